"""What the demo shows at the end: the archive, and what the destination registry holds."""

import os

from ansible_collections.airgap.hangar.plugins.module_utils._archive.reader import ArchiveReader
from ansible_collections.airgap.hangar.plugins.module_utils._signing.registry_signatures import verify_digest


def describe_archive(path):
    lines = ["Archive: %s (%.1f KiB)" % (path, os.path.getsize(path) / 1024)]
    with ArchiveReader(path) as reader:
        for entry in sorted(reader.index.entries, key=lambda entry: (entry.source, entry.tag)):
            platforms = sorted({str(image.platform) for image in entry.images if not image.is_attestation})
            lines.append("  %s:%s  %s" % (entry.source, entry.tag, ", ".join(platforms)))
    return "\n".join(lines)


def describe_registry(client, source_digests, public_keys=()):
    """The catalog with each tag's digest, marked where it equals the digest of the same tag at the source,
    and, with public keys, whether its signature verifies. Signature tags (sha256-<hex>.sig) are counted."""
    lines = ["Destination %s:" % client.registry]
    signature_tags = 0
    for repository in sorted(client.catalog()):
        for tag in sorted(client.list_tags(repository)):
            if tag.startswith("sha256-"):
                signature_tags += 1
                continue
            digest = client.head_manifest(repository, tag)["digest"]
            reference = "%s:%s" % (repository, tag)
            same = "  (same digest as the source)" if source_digests.get(reference) == digest else ""
            if public_keys:
                verification = verify_digest(client, repository, digest, list(public_keys))
                same += "  signature: %s" % ("verified" if verification.ok else verification.status)
            lines.append("  %-34s %s%s" % (reference, digest, same))
    if signature_tags:
        lines.append("  and %d signature tags (sha256-<hex>.sig)" % signature_tags)
    return "\n".join(lines)
