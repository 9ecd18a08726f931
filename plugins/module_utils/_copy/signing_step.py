# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signing what a load or a mirror pushed (private module_utils, no Ansible imports).

After an image is in the destination, its top-level digest there and every platform manifest
copied (attestation manifests excepted, as cosign and containers/image do) get a cosign signature,
with the identity `<registry>/<repository>:<tag>` (containers/image style). A digest that already
carries a signature verifying with this key is left alone, so a rerun appends nothing.
"""

from __future__ import annotations

from .._errors import HangarError
from .model import FAILED

ATTESTATION_PLATFORM = "unknown/unknown"


def signing_identity(dest_ref):
    """`<registry>/<repository>:<tag>`, or `<registry>/<repository>` for a digest-pinned reference."""
    name = "%s/%s" % (dest_ref.registry, dest_ref.repository)
    return "%s:%s" % (name, dest_ref.tag) if dest_ref.tag else name


def signing_targets(result):
    """The destination digests to sign: the top-level one, then each platform copied, each once."""
    digests = [result.digest] if result.digest else []
    for platform in result.platforms:
        if platform.get("platform") != ATTESTATION_PLATFORM and platform.get("digest") not in digests:
            digests.append(platform["digest"])
    return digests


class SigningStep:
    """The after-copy step that signs at a registry destination (it must have `.client`)."""

    def __init__(self, key, check_mode=False):
        self.key = key
        self.check_mode = check_mode

    def __call__(self, source, source_ref, destination, dest_ref, result):
        client = getattr(destination, "client", None)
        if client is None or self.key is None:
            return
        from .._signing.registry_signatures import sign_digest  # a run that signs nothing imports no signing code

        identity = signing_identity(dest_ref)
        for digest in signing_targets(result):
            try:
                status = sign_digest(client, dest_ref.repository, digest, identity, self.key, self.check_mode)
            except HangarError as exc:
                result.signatures.append({"digest": digest, "identity": identity, "status": FAILED})
                raise HangarError("Error signing %s@%s: %s" % (dest_ref, digest, exc)) from None
            result.signatures.append({"digest": digest, "identity": identity, "status": status})


def chain_steps(*steps):
    """One after-copy callable running the given steps (None entries skipped) in order."""
    steps = [step for step in steps if step is not None]
    if not steps:
        return None

    def run(source, source_ref, destination, dest_ref, result):
        for step in steps:
            step(source, source_ref, destination, dest_ref, result)
    return run
