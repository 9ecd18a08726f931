# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proving that validated images carry sigstore signatures from trusted keys (private module_utils,
no Ansible imports).

For each image validated in a registry, its top-level digest there (and, when asked, each platform
digest but attestations) must carry a simple-signing signature that verifies with one of the
public keys and whose payload names exactly that digest. The reasons follow the Hangar CLI's
`sign validate` wording: `signature missing`, `signature invalid`, `signature for another digest`.
"""

from __future__ import annotations

from .._errors import HangarError
from .model import FAILED


def signature_digests(client, result, platforms):
    """The digests to verify: the tag's digest in the target, then the platforms present (not attestations)."""
    head = client.head_manifest(result.dest_ref.repository, result.dest_ref.reference)
    digests = [head["digest"]] if head else []
    if platforms:
        for platform in result.platforms:
            if platform.get("status") == "present" and not str(platform.get("platform", "")).startswith(
                    "attestation") and platform["digest"] not in digests:
                digests.append(platform["digest"])
    return digests


def verify_signatures(target, result, public_keys, platforms=False):
    """Add `signatures` to a ValidationResult and fail it with the first reason; only for registry targets."""
    client = getattr(target, "client", None)
    if client is None or not public_keys or result.dest_ref is None:
        return result
    from .._signing.registry_signatures import describe, verify_digest  # only runs given keys load signing code

    problems = []
    try:
        for digest in signature_digests(client, result, platforms):
            verification = verify_digest(client, result.dest_ref.repository, digest, public_keys)
            result.signatures.append({"digest": digest, "status": verification.status})
            if not verification.ok:
                problems.append("%s: %s@%s" % (describe(verification), result.destination.split("@")[0], digest))
    except HangarError as exc:
        problems.append("Error verifying signatures of %s: %s" % (result.destination, exc))
    if problems:
        reason = "; ".join(problems)
        if result.status == FAILED and result.reason:
            reason = result.reason + "; " + reason
        result.fail(reason)
    return result
