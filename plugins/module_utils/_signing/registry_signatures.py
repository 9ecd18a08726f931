# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signing and verifying images in a registry with cosign `.sig` tags (private module_utils, no
Ansible imports).

`client` is a RegistryClient (or anything with get_manifest, get_blob, push_blob, put_manifest,
blob_exists). An image counts as signed by a key when a simple-signing layer of its `.sig`
manifest verifies with that key and its payload (strict rules) names exactly that digest.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from .._errors import DigestMismatchError, NotFoundError, RegistryError, SigningError
from .._image.media_types import OCI_MANIFEST
from .payload import make_payload, parse_payload
from .sig_manifest import add_signature, signature_layers, signature_tag

VALID = "valid"
MISSING = "signature missing"
INVALID = "signature invalid"
OTHER_DIGEST = "signature for another digest"

SIGNED = "signed"
ALREADY_SIGNED = "unchanged"

# A simple-signing payload is a few hundred bytes; a layer announcing more is not fetched (a `.sig`
# tag is written by whoever may push to the repository, and must not make a verifier read gigabytes).
MAX_PAYLOAD_SIZE = 64 * 1024


@dataclass
class Verification:
    """The outcome of checking one digest: `status` is VALID or one of the three reasons."""
    digest: str
    status: str
    detail: str = ""
    identity: str | None = None

    @property
    def ok(self):
        return self.status == VALID


def _signature_manifest(client, repo, digest):
    try:
        manifest = client.get_manifest(repo, signature_tag(digest))
    except NotFoundError:
        return None
    return manifest


def verify_digest(client, repo, digest, public_keys):
    """Verification of `digest` in `repo` against any of `public_keys` (PublicKey objects)."""
    manifest = _signature_manifest(client, repo, digest)
    if manifest is None:
        return Verification(digest, MISSING, "no %s tag" % signature_tag(digest))
    layers = signature_layers(manifest.doc)
    if not layers:
        return Verification(digest, MISSING, "%s holds no simple-signing layer" % signature_tag(digest))
    other = None
    detail = "no signature verifies with the given public keys"
    for layer in layers:
        signature = layer.signature
        size = layer.descriptor.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_PAYLOAD_SIZE:
            detail = "a signature payload of %r bytes is not fetched (at most %d)" % (size, MAX_PAYLOAD_SIZE)
            continue
        if signature is None:
            detail = "a signature layer has no readable %s annotation" % "dev.cosignproject.cosign/signature"
            continue
        try:
            payload = client.get_blob(repo, layer.digest)
        except (NotFoundError, DigestMismatchError) as exc:
            detail = "payload %s: %s" % (layer.digest, exc)
            continue
        if not any(key.verify(signature, payload) for key in public_keys):
            continue
        try:
            claims = parse_payload(payload)
        except SigningError as exc:
            detail = str(exc)
            continue
        if claims.digest != digest:
            other = other or Verification(digest, OTHER_DIGEST, "the signed payload names %s" % claims.digest,
                                          claims.identity)
            continue
        return Verification(digest, VALID, identity=claims.identity)
    return other or Verification(digest, INVALID, detail)


SIGN_ATTEMPTS = 3


def sign_digest(client, repo, digest, identity, key, check_mode=False, creator="airgap.hangar"):
    """Sign `digest` in `repo` unless a signature that verifies with `key` for it is there.
    Returns SIGNED (or, in check mode, would be signed) or ALREADY_SIGNED.

    The `.sig` tag is read, extended and written back; another job may do the same at once (its
    payload can even be byte-identical, made in the same second, so both upload the same blobs).
    So a write that the registry refuses, or that another job's write replaced, is tried again
    from a fresh read, where the other job's signature by the same key counts as done."""
    for attempt in range(1, SIGN_ATTEMPTS + 1):
        if verify_digest(client, repo, digest, [key.public_key]).ok:
            # On a later attempt our refused write, or another job's, signed it during this run: a change.
            return ALREADY_SIGNED if attempt == 1 else SIGNED
        if check_mode:
            return SIGNED
        try:
            _append_signature(client, repo, digest, identity, key, creator)
        except RegistryError:
            if attempt == SIGN_ATTEMPTS:
                raise
            continue
        if verify_digest(client, repo, digest, [key.public_key]).ok:
            return SIGNED
    raise SigningError("Error signing %s/%s@%s: the signature tag kept being replaced by other writers"
                       % (client.registry, repo, digest))


def _append_signature(client, repo, digest, identity, key, creator):
    existing = _signature_manifest(client, repo, digest)
    existing_doc = existing_config = None
    if existing is not None:
        existing_doc = existing.doc
        config_digest = (existing_doc.get("config") or {}).get("digest") if isinstance(existing_doc, dict) else None
        if config_digest:
            try:
                existing_config = client.get_blob(repo, config_digest)
            except NotFoundError:
                existing_config = None
    payload = make_payload(identity, digest, creator=creator)
    try:
        update = add_signature(existing_doc, existing_config, payload, key.sign(payload))
    except SigningError as exc:
        raise SigningError("Error signing %s/%s@%s: %s" % (client.registry, repo, digest, exc)) from None
    for blob_digest, data in update.blobs.items():
        if not client.blob_exists(repo, blob_digest):
            client.push_blob(repo, blob_digest, len(data), io.BytesIO(data))
    client.put_manifest(repo, signature_tag(digest), update.manifest, OCI_MANIFEST)


def describe(verification):
    text = verification.status
    if verification.detail:
        text += " (%s)" % verification.detail
    return text
