"""Supply-chain artifacts for tests, laid out by hand as cosign and OCI 1.1 clients write them:
cosign attachment tags (`sha256-<hex>.att`, `.sbom`) and OCI referrers (a manifest with `subject`)
with the referrers tag schema index a client writes where a registry has no referrers API."""

import hashlib
import io
import json

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = b"{}"


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push_blob(client, repo, data):
    digest = digest_of(data)
    if not client.blob_exists(repo, digest):
        client.push_blob(repo, digest, len(data), io.BytesIO(data))
    return digest


def attachment(client, repo, subject, suffix, media_type, content):
    """Push a cosign-style attachment (one layer) under `sha256-<hex><suffix>`; returns its manifest bytes."""
    config = json.dumps({"architecture": "", "os": "", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [digest_of(content)]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                   "digest": _push_blob(client, repo, config)},
        "layers": [{"mediaType": media_type, "size": len(content), "digest": _push_blob(client, repo, content)}],
    }, separators=(",", ":")).encode()
    client.put_manifest(repo, "sha256-%s%s" % (subject.split(":")[1], suffix), manifest, OCI_MANIFEST)
    return manifest


def referrer_manifest(subject_descriptor, artifact_type, content, annotations=None):
    """(manifest bytes, {digest: blob}) of an OCI 1.1 artifact whose subject is the descriptor."""
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": digest_of(EMPTY)},
           "layers": [{"mediaType": artifact_type, "size": len(content), "digest": digest_of(content)}],
           "subject": subject_descriptor}
    if annotations:
        doc["annotations"] = annotations
    return json.dumps(doc, separators=(",", ":")).encode(), {digest_of(EMPTY): EMPTY, digest_of(content): content}


def push_referrer_with_tag_schema(client, repo, subject_descriptor, artifact_type, content, annotations=None):
    """Push a referrer by digest and list it in the `sha256-<hex>` index, as a client does on a
    registry without the referrers API; returns (referrer bytes, index bytes)."""
    data, blobs = referrer_manifest(subject_descriptor, artifact_type, content, annotations)
    for blob in blobs.values():
        _push_blob(client, repo, blob)
    client.put_manifest(repo, digest_of(data), data, OCI_MANIFEST)
    descriptor = {"mediaType": OCI_MANIFEST, "digest": digest_of(data), "size": len(data),
                  "artifactType": artifact_type}
    if annotations:
        descriptor["annotations"] = annotations
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]},
                       separators=(",", ":")).encode()
    client.put_manifest(repo, "sha256-" + subject_descriptor["digest"].split(":")[1], index, OCI_INDEX)
    return data, index
