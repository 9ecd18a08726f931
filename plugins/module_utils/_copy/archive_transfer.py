# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Archive to archive: merge, export, and storing charts and files (private module_utils, no Ansible imports).

ArchiveComposer adds entries to an ArchiveWriter from other archives (Hangar's `archive merge` and
`archive export`) and from chart and file paths (`archive store chart|file`). Blobs are copied once
and verified as they stream. An entry already in the destination with other platforms ends with
the union of both, merged as a load merges a destination index (index_merge.merge_descriptors):
the incoming platform replaces the one in its slot. When the union is neither side's own set, the
entry gets a new OCI index of the union as its top-level manifest. Every change is recorded as a
before/after pair, the one source of `changed`, `entries` and `diff`.
"""

from __future__ import annotations

import io

from .._archive.charts import artifact_kind, chart_artifact, file_artifact
from .._archive.index import ArchiveEntry, ArchivePlatformImage
from .._errors import InputError
from .._image.index_merge import build_index, merge_descriptors
from .._image.manifest import Manifest
from .._image.media_types import OCI_INDEX, OCI_MANIFEST
from .._image.platform import PlatformFilter
from .archive_store import find_entry, image_descriptor
from .engine import select_platforms

ADDED = "added"
REPLACED = "replaced"
UNCHANGED = "unchanged"
SKIPPED = "skipped"


def _summary(entry):
    if entry is None:
        return None
    return {"reference": entry.reference, "digest": entry.index_digest,
            "platforms": ["%s %s" % (_platform_text(image), image.digest) for image in entry.images]}


def _platform_text(image):
    if image.is_attestation:
        return "attestation"
    text = "/".join(part for part in (image.os, image.arch, image.variant) if part)
    return text or "artifact"


class ArchiveComposer:
    """Puts entries into `writer`; with check_mode only its index is changed, to say what would be."""

    def __init__(self, writer, check_mode=False):
        self.writer = writer
        self.check_mode = check_mode
        self.changes = []  # {"reference", "kind", "action", "origin", "before", "after"}

    # -- results

    @property
    def changed(self):
        return any(change["action"] in (ADDED, REPLACED) for change in self.changes)

    def diff(self):
        changed = [change for change in self.changes if change["action"] in (ADDED, REPLACED)]
        return {"before": {"entries": [change["before"] for change in changed if change["before"]]},
                "after": {"entries": [change["after"] for change in changed]}}

    def _record(self, reference, kind, action, origin, before, after, **extra):
        change = dict(reference=reference, kind=kind, action=action, origin=origin,
                      before=_summary(before), after=_summary(after))
        change.update(extra)
        self.changes.append(change)

    # -- from other archives

    def merge_archive(self, reader, references=None, platforms=None, provenance=True):
        """Add the entries of the archive in `reader` (all, or those of `references`, a list of
        ImageReference), keeping only the platforms `platforms` allows (a PlatformFilter)."""
        platforms = platforms or PlatformFilter()
        if references is None:
            wanted = list(reader.index.entries)
        else:
            wanted = []
            missing = []
            for ref in references:
                entry = find_entry(reader.index, ref)
                if entry is None:
                    missing.append(str(ref))
                elif entry not in wanted:
                    wanted.append(entry)
            if missing:
                raise InputError("Error exporting from archive %s: not in the archive: %s"
                                 % (reader.path, ", ".join(missing)))
        for entry in wanted:
            self._merge_entry(reader, entry, platforms, provenance)

    def _merge_entry(self, reader, entry, platforms, provenance):
        kind = artifact_kind(entry) or "image"
        descriptors = [image_descriptor(image, self._size(image.digest, reader)) for image in entry.images]
        selected = descriptors if kind != "image" else select_platforms(descriptors, platforms, provenance)
        if not selected:
            self._record(entry.reference, kind, SKIPPED, reader.path, None, None,
                         warning="no platform allowed by %s" % platforms.describe())
            return
        by_digest = {image.digest: image for image in entry.images}
        incoming = [by_digest[d["digest"]] for d in selected]
        whole = len(incoming) == len(entry.images)
        current = self.writer.index.find(entry.source, entry.tag, None if entry.tag else entry.index_digest)
        if current is None:
            images = incoming
            top_digest, top_type = (entry.index_digest, entry.index_media_type) if whole else (None, None)
        else:
            current_descriptors = [image_descriptor(image, self._size(image.digest, reader)) for image in
                                   current.images]
            merged = merge_descriptors(current_descriptors, selected)
            known = {image.digest: image for image in current.images}
            known.update((image.digest, image) for image in incoming)
            images = [known[d["digest"]] for d in merged]
            digests = [image.digest for image in images]
            if digests == current.manifest_digests:
                top_digest, top_type = current.index_digest, current.index_media_type
            elif whole and digests == entry.manifest_digests:
                top_digest, top_type = entry.index_digest, entry.index_media_type
            else:
                top_digest, top_type = None, None
        if top_digest is None and (len(images) > 1 or not entry.tag):
            data = build_index([image_descriptor(image, self._size(image.digest, reader)) for image in images])
            top = Manifest.from_bytes(data, OCI_INDEX)
            top_digest, top_type = top.digest, OCI_INDEX
            if not self.check_mode:
                self.writer.add_index_blob(top)
        elif top_digest is None:
            top_digest, top_type = images[0].digest, images[0].media_type
        new = ArchiveEntry(entry.source, entry.tag, images, top_digest, top_type)
        if current is not None and current.to_dict() == new.to_dict():
            self._record(entry.reference, kind, UNCHANGED, reader.path, current, current)
            return
        if not self.check_mode:
            self._copy_blobs(reader, new)
        self._put(new, current, kind, reader.path)

    def _size(self, digest, reader):
        size = self.writer.blob_size(digest)
        if size is not None:
            return size
        return reader.blob_size(digest) if reader.has_blob(digest) else 0

    def _copy_blobs(self, reader, entry):
        manifests = {image.digest: image.media_type for image in entry.images}
        for digest in sorted(entry.blob_digests):
            if self.writer.has_blob(digest):
                continue
            if not reader.has_blob(digest):
                continue  # a new top-level index, stored already; put_entry names anything else missing
            if digest in manifests:
                self.writer.add_manifest(Manifest.from_bytes(reader.read_blob(digest), manifests[digest]))
            else:
                with reader.open_blob(digest) as stream:
                    self.writer.add_blob(digest, reader.blob_size(digest), stream)

    def _put(self, new, current, kind, origin):
        if self.check_mode:
            self.writer.index.put(new)
        else:
            self.writer.put_entry(new)
        self._record(new.reference, kind, REPLACED if current is not None else ADDED, origin, current, new)

    # -- charts and files

    def store_chart(self, path):
        self._store(chart_artifact(path), path)

    def store_file(self, path):
        self._store(file_artifact(path), path)

    def _store(self, artifact, path):
        current = self.writer.index.find(artifact.source, artifact.tag)
        if current is not None and len(current.images) == 1 and current.images[0].layers == [artifact.layer_digest] \
                and all(self.writer.has_blob(d) for d in current.blob_digests):
            self._record(artifact.reference, artifact.kind, UNCHANGED, path, current, current)
            return
        manifest = Manifest.from_bytes(artifact.manifest, OCI_MANIFEST)
        image = ArchivePlatformImage(media_type=OCI_MANIFEST, layers=[artifact.layer_digest],
                                     config=artifact.config_digest, digest=manifest.digest,
                                     annotations=artifact.annotations)
        new = ArchiveEntry(artifact.source, artifact.tag, [image], manifest.digest, OCI_MANIFEST)
        if not self.check_mode:
            self.writer.add_blob(artifact.config_digest, len(artifact.config), io.BytesIO(artifact.config))
            if not self.writer.has_blob(artifact.layer_digest):
                with artifact.open_layer() as stream:
                    self.writer.add_blob(artifact.layer_digest, artifact.layer_size, stream)
            self.writer.add_manifest(manifest)
        self._put(new, current, artifact.kind, path)
