# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signing images already in a registry, as the Hangar CLI's `sign` does (private module_utils, no
Ansible imports): the reference's top-level digest and each platform manifest the filter allows
(attestations never), in the cosign layout, idempotently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .._errors import HangarError
from .._image.image_list import collect_entries
from .._image.platform import Platform, is_attestation
from .._signing.registry_signatures import sign_digest
from .model import FAILED, SIGNED, UNCHANGED, result_head
from .signing_step import signing_identity


@dataclass
class SignResult:
    source_ref: object
    destination: str
    entry: object = None
    status: str = UNCHANGED
    digest: str | None = None
    signatures: list = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def as_dict(self):
        result = result_head(self)
        result.update(digest=self.digest, signatures=self.signatures, seconds=round(self.seconds, 3))
        if self.error:
            result["error"] = self.error
        return result


def plan_sign(images=None, file=None, registry=None):
    """One SignResult per image named, with the registry replaced when one is given."""
    results = []
    for entry in collect_entries(images, file):
        ref = entry.source.with_registry(registry) if registry else entry.source
        results.append(SignResult(ref, str(ref), entry=entry))
    return results


def sign_targets(client, ref, platforms):
    """(top digest, [digests to sign]) for `ref` in its registry."""
    top = client.get_manifest(ref.repository, ref.reference)
    digests = [top.digest]
    for descriptor in top.children:
        if is_attestation(descriptor):
            continue
        if descriptor.get("platform") and not platforms.allows(Platform.from_dict(descriptor["platform"])):
            continue
        if descriptor["digest"] not in digests:
            digests.append(descriptor["digest"])
    return top.digest, digests


def sign_image(client, result, key, platforms, check_mode=False):
    """Fill `result`: `signed` when any signature was (or would be) added, `unchanged` when every
    digest already carried one verifying with `key`, `failed` with the error otherwise."""
    started = time.monotonic()
    ref = result.source_ref
    identity = signing_identity(ref)
    try:
        result.digest, digests = sign_targets(client, ref, platforms)
        for digest in digests:
            status = sign_digest(client, ref.repository, digest, identity, key, check_mode)
            result.signatures.append({"digest": digest, "identity": identity, "status": status})
            if status == SIGNED:
                result.status = SIGNED
    except HangarError as exc:
        result.status = FAILED
        result.error = "Error signing %s: %s" % (ref, exc)
    result.seconds = time.monotonic() - started
    return result
