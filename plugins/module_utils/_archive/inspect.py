# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an archive holds, and whether it is intact (private module_utils, no Ansible imports).

describe(reader) lists the archive (images, charts, files, blobs) from its index and central
directory without reading blob contents; verify(reader) reads every stored blob once and checks
its sha256 and size, every platform folder against the index, and every manifest against the
index's record of it, returning a list of problems, each naming the entry and what is wrong.

Charts and files are stored the way Hangar v1.9.2 stores them: as single-manifest OCI images under
the projects `hangar-helm` and `hangar-file` (see charts.py).
"""

from __future__ import annotations

import json

from .._errors import HangarError
from .._image.manifest import Manifest, is_foreign_layer
from .._image.platform import attestation_subject
from .charts import CHART_PROJECT, FILE_PROJECT, artifact_kind
from .index import blob_entry_name, folder_entry_names, format_time

# Entry attributes other packages may add to ArchiveEntry for what they carry beside images
# (signatures, attestations, SBOMs: the issue-14 signing package). describe() reports each one the
# entry has and that is not empty, as a list of dicts (items with to_dict() are converted).
CARRIED_ATTRIBUTES = ("signatures", "artifacts")


def describe(reader):
    """{archive, images, charts, files, blobs} for the archive open in `reader`."""
    index = reader.index
    sizes = {digest: reader.blob_size(digest) for digest in reader.blob_digests}
    images, charts, files = [], [], []
    for entry in index.entries:
        kind = artifact_kind(entry)
        if kind == "chart":
            charts.append(_artifact(entry, sizes, "version"))
        elif kind == "file":
            files.append(_artifact(entry, sizes, None))
        else:
            images.append(_image(entry, sizes))
    needed = index.all_blob_digests()
    stored_bytes = sum(sizes.values())
    archive = {
        "path": reader.path,
        "bytes": reader.file_size,
        "created": format_time(index.time),
        "index_version": index.version,
        "entries": len(index),
        "images": len(images),
        "charts": len(charts),
        "files": len(files),
        "platforms": len(index.manifest_digests()),
        "blobs": len(sizes),
        "dead_bytes": reader.dead_bytes(),
    }
    blobs = {
        "count": len(sizes),
        "bytes": stored_bytes,
        "referenced": len(needed & set(sizes)),
        "unreferenced": sorted(set(sizes) - needed),
        "missing": sorted(needed - set(sizes)),
    }
    return {"archive": archive, "images": images, "charts": charts, "files": files, "blobs": blobs}


def _entry_bytes(entry, sizes):
    return sum(sizes.get(digest, 0) for digest in entry.blob_digests)


def _platform(image, sizes):
    platform = {
        "arch": image.arch, "os": image.os, "variant": image.variant, "os_version": image.os_version,
        "digest": image.digest, "media_type": image.media_type,
        "bytes": sum(sizes.get(digest, 0) for digest in image.blob_digests),
        "attestation": image.is_attestation,
    }
    if image.is_attestation:
        platform["subject"] = attestation_subject({"annotations": image.annotations})
    return platform


def _image(entry, sizes):
    described = {
        "source": entry.source, "tag": entry.tag, "reference": entry.reference,
        "digest": entry.index_digest, "media_type": entry.index_media_type,
        "platforms": [_platform(image, sizes) for image in entry.images],
        "bytes": _entry_bytes(entry, sizes),
    }
    for name in CARRIED_ATTRIBUTES:
        carried = getattr(entry, name, None)
        if carried:
            described[name] = [item.to_dict() if hasattr(item, "to_dict") else item for item in carried]
    return described


def _artifact(entry, sizes, tag_name):
    image = entry.images[0] if entry.images else None
    annotations = image.annotations if image else {}
    described = {
        "name": entry.source.rsplit("/", 1)[-1], "source": entry.source, "reference": entry.reference,
        "digest": image.digest if image else None, "bytes": _entry_bytes(entry, sizes),
        "title": annotations.get("org.opencontainers.image.title", ""),
        "description": annotations.get("org.opencontainers.image.description", ""),
    }
    if tag_name:
        described[tag_name] = entry.tag
    return described


# -- verification

def verify(reader):
    """Every problem of the archive, as [{"entry", "image", "problem"}]; [] when it is intact."""
    problems = []
    index = reader.index
    stored = reader.blob_digests
    owners = {}
    for entry in index.entries:
        for digest in entry.blob_digests:
            owners.setdefault(digest, entry.reference)

    def problem(name, what, digest=None):
        problems.append({"entry": name, "image": owners.get(digest), "problem": what})

    expected_sizes = {}
    manifests = {}
    for digest in sorted(index.manifest_digests() & stored):
        try:
            manifest = Manifest.from_bytes(reader.read_blob(digest), index.image(digest).media_type)
        except HangarError as exc:
            problem(blob_entry_name(digest), "platform manifest unreadable: %s" % exc, digest)
            continue
        manifests[digest] = manifest
        for descriptor in [manifest.config] + manifest.layers:
            if descriptor.get("digest") and not is_foreign_layer(descriptor):
                expected_sizes.setdefault(descriptor["digest"], descriptor.get("size"))

    for digest in sorted(index.all_blob_digests()):
        name = blob_entry_name(digest)
        if digest not in stored:
            problem(name, "blob missing", digest)
            continue
        size = reader.blob_size(digest)
        expected = expected_sizes.get(digest)
        if expected is not None and expected != size:
            problem(name, "blob holds %d bytes where its manifest says %d" % (size, expected), digest)
            continue
        try:
            with reader.open_blob(digest) as stream:
                for _chunk in stream:
                    pass
        except HangarError as exc:
            problem(name, "blob content does not match its digest: %s" % exc, digest)

    for entry in index.entries:
        for image in entry.images:
            _verify_platform(reader, entry, image, manifests.get(image.digest), problems)
        if entry.index_digest and entry.index_digest in stored and entry.index_digest not in index.manifest_digests():
            _verify_top(reader, entry, problems)
    return problems


def _verify_platform(reader, entry, image, manifest, problems):
    def problem(name, what):
        problems.append({"entry": name, "image": entry.reference, "problem": what})

    index_name, layout_name = folder_entry_names(image.digest)
    if not reader.has_manifest_folder(image.digest):
        problem(index_name.rsplit("/", 1)[0] + "/", "platform folder missing (%s %s)"
                % ("/".join(part for part in (image.os, image.arch, image.variant) if part), image.digest))
    else:
        try:
            folder = json.loads(reader.read_entry(index_name))
            descriptors = folder.get("manifests") if isinstance(folder, dict) else None
            if not isinstance(descriptors, list) or len(descriptors) != 1 \
                    or descriptors[0].get("digest") != image.digest:
                problem(index_name, "does not name exactly the platform manifest %s" % image.digest)
            elif manifest is not None and descriptors[0].get("size") not in (None, len(manifest.data)):
                problem(index_name, "names %s with size %s, the manifest has %d bytes"
                        % (image.digest, descriptors[0].get("size"), len(manifest.data)))
        except (HangarError, ValueError, AttributeError) as exc:
            problem(index_name, "unreadable: %s" % exc)
    if manifest is None:
        return
    layers = [layer["digest"] for layer in manifest.layers if not is_foreign_layer(layer)]
    if layers != list(image.layers):
        problem(blob_entry_name(image.digest), "the manifest's layers differ from index.json's for %s" % image.digest)
    if manifest.config.get("digest", "") != image.config:
        problem(blob_entry_name(image.digest), "the manifest's config differs from index.json's for %s" % image.digest)


def _verify_top(reader, entry, problems):
    try:
        top = Manifest.from_bytes(reader.read_blob(entry.index_digest), entry.index_media_type)
    except HangarError as exc:
        problems.append({"entry": blob_entry_name(entry.index_digest), "image": entry.reference,
                         "problem": "top-level manifest unreadable: %s" % exc})
        return
    children = {child.get("digest") for child in top.children} if top.is_index else {top.digest}
    stray = [image.digest for image in entry.images if image.digest not in children]
    if stray:
        problems.append({"entry": blob_entry_name(entry.index_digest), "image": entry.reference,
                         "problem": "the top-level index does not name stored platforms %s" % ", ".join(stray)})


__all__ = ["CARRIED_ATTRIBUTES", "CHART_PROJECT", "FILE_PROJECT", "describe", "verify"]
