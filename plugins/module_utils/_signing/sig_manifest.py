# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cosign `.sig` manifest: tag `sha256-<hex>.sig` in the image's repository, an OCI image
manifest whose layers are simple-signing payloads, each with its base64 DER signature in the
annotation `dev.cosignproject.cosign/signature` (private module_utils, no Ansible imports).

Adding a signature appends a layer (and its diff_id in the config) to what the tag holds, the way
containers/image does; a layer identical to one already there is not added twice.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from .._errors import SigningError
from .._image.artifact_tags import attachment_tag
from .._image.digest import sha256_digest
from .._image.media_types import OCI_CONFIG, OCI_MANIFEST

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"


def signature_tag(digest):
    return attachment_tag(digest, ".sig")


@dataclass(frozen=True)
class SignatureLayer:
    """One signature of a `.sig` manifest: its layer descriptor and, once fetched, the payload."""
    descriptor: dict

    @property
    def digest(self):
        return self.descriptor.get("digest")

    @property
    def signature(self):
        """The DER signature bytes; None when the annotation is missing or not base64."""
        text = (self.descriptor.get("annotations") or {}).get(SIGNATURE_ANNOTATION)
        if not isinstance(text, str) or not text:
            return None
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None


def signature_layers(manifest_doc):
    """The simple-signing layers of a `.sig` manifest document; other layers (attachments) are ignored."""
    if not isinstance(manifest_doc, dict):
        return []
    return [SignatureLayer(layer) for layer in manifest_doc.get("layers") or []
            if isinstance(layer, dict) and layer.get("mediaType") == SIMPLESIGNING and layer.get("digest")]


def empty_config():
    return {"architecture": "", "config": {}, "os": "", "rootfs": {"type": "layers", "diff_ids": []}}


def _compact(doc):
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8")


@dataclass(frozen=True)
class SignatureManifestUpdate:
    """What to upload for a new signature: the blobs (digest -> bytes), then the manifest to the tag."""
    manifest: bytes
    blobs: dict
    added: bool


def add_signature(existing_manifest, existing_config, payload, signature):
    """The `.sig` manifest with one more layer for (payload, DER signature).

    existing_manifest: the parsed document at the `.sig` tag, or None; existing_config: its config
    bytes, or None. A byte-identical layer already present is not added again (added=False)."""
    annotation = base64.b64encode(signature).decode("ascii")
    layer = {"mediaType": SIMPLESIGNING, "digest": sha256_digest(payload), "size": len(payload),
             "annotations": {SIGNATURE_ANNOTATION: annotation}}
    if existing_manifest is not None:
        if existing_manifest.get("mediaType", OCI_MANIFEST) != OCI_MANIFEST or "layers" not in existing_manifest:
            raise SigningError("the signature tag holds something else than an OCI image manifest")
        layers = list(existing_manifest.get("layers") or [])
        if layer in layers:
            return SignatureManifestUpdate(b"", {}, False)
        try:
            config = json.loads(existing_config) if existing_config else empty_config()
        except ValueError:
            config = empty_config()
        if not isinstance(config, dict):
            config = empty_config()
    else:
        layers, config = [], empty_config()
    rootfs = config.get("rootfs") if isinstance(config.get("rootfs"), dict) else {"type": "layers"}
    diff_ids = list(rootfs.get("diff_ids") or [])
    diff_ids.append(layer["digest"])
    config["rootfs"] = dict(rootfs, diff_ids=diff_ids)
    config_bytes = _compact(config)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config_bytes), "size": len(config_bytes)},
                "layers": layers + [layer]}
    if existing_manifest is not None and existing_manifest.get("annotations"):
        manifest["annotations"] = existing_manifest["annotations"]
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode("utf-8")  # Go's field order
    blobs = {layer["digest"]: payload, sha256_digest(config_bytes): config_bytes}
    return SignatureManifestUpdate(manifest_bytes, blobs, True)
