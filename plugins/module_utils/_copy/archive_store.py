# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Hangar archive as a source and as a destination of the copy engine (private module_utils, no Ansible imports).

As a destination, an archive entry (source:tag) always holds exactly the platforms of the last
save, with the source's top-level manifest kept as `indexDigest`. As a source, the kept top-level
manifest is offered when present; an archive without it (written by the Hangar CLI) offers an OCI
index built from the stored platform manifests, as Hangar's own loader does.
"""

from __future__ import annotations

from dataclasses import replace

from .._archive.index import ArchiveEntry, ArchivePlatformImage
from .._errors import NotFoundError
from .._image.index_merge import build_index
from .._image.manifest import Manifest
from .._image.media_types import OCI_INDEX
from .._image.platform import Platform
from .model import CommitOutcome, DestinationState


def find_entry(index, ref):
    """The archive entry for a reference: by source and tag, or by kept top-level digest when the
    reference is pinned by digest only."""
    entry = index.find(ref.name, ref.tag, None if ref.tag else ref.digest)
    if entry is not None and ref.tag and ref.digest and entry.index_digest != ref.digest:
        return None
    return entry


def image_descriptor(image, size):
    """The index descriptor of an archive platform image; one stored without a platform (a chart or
    a file, as Hangar stores them) has none, so platform filters pass it like any OCI artifact."""
    descriptor = {"mediaType": image.media_type, "digest": image.digest, "size": size}
    if not image.arch and not image.os:
        return descriptor
    platform = Platform(os=image.os, architecture=image.arch, variant=image.variant or "",
                        os_version=image.os_version or "", os_features=tuple(image.os_features or ()))
    descriptor = {"mediaType": image.media_type, "digest": image.digest, "size": size,
                  "platform": platform.to_dict()}
    if image.annotations:
        descriptor["annotations"] = dict(image.annotations)
    return descriptor


class ArchiveSource:
    def __init__(self, reader):
        self.reader = reader

    def _entry(self, ref):
        entry = find_entry(self.reader.index, ref)
        if entry is None:
            raise NotFoundError("Error reading %s from archive %s: not in the archive" % (ref, self.reader.path))
        return entry

    def top_manifest(self, ref):
        entry = self._entry(ref)
        if entry.index_digest and self.reader.has_blob(entry.index_digest):
            return Manifest.from_bytes(self.reader.read_blob(entry.index_digest), entry.index_media_type)
        if len(entry.images) == 1 and not entry.images[0].arch and not entry.images[0].os:
            # A chart or a file as the Hangar CLI stores it: the one manifest is the artifact itself.
            image = entry.images[0]
            return Manifest.from_bytes(self.reader.read_blob(image.digest), image.media_type)
        descriptors = self.platform_descriptors(ref, None)
        return Manifest.from_bytes(build_index(descriptors), OCI_INDEX)

    def platform_descriptors(self, ref, top):
        return [image_descriptor(image, self.reader.blob_size(image.digest)) for image in self._entry(ref).images]

    def current_descriptors(self, ref):
        """The platform descriptors the archive holds for `ref`; None when the archive lacks it."""
        if find_entry(self.reader.index, ref) is None:
            return None
        return self.platform_descriptors(ref, None)

    def get_manifest(self, ref, digest):
        media_type = next((i.media_type for i in self._entry(ref).images if i.digest == digest), None)
        return Manifest.from_bytes(self.reader.read_blob(digest), media_type)

    def open_blob(self, ref, digest, size):
        return self.reader.open_blob(digest, size)


class ArchiveDestination:
    def __init__(self, writer):
        self.writer = writer
        self._manifests = {}

    def _entry_for(self, ref):
        return find_entry(self.writer.index, ref)

    def is_current(self, ref, plan, options):
        entry = self._entry_for(ref)
        current = (entry is not None and entry.index_digest == plan.top.digest
                   and [i.digest for i in entry.images] == [d["digest"] for d in plan.selected]
                   and all(self.writer.has_blob(d) for d in entry.manifest_digests))
        return plan.top.digest if current else None

    def held_descriptors(self, ref, top):
        """The descriptor of the single manifest `top` with the platform the archive's entry records."""
        entry = self._entry_for(ref)
        image = next((i for i in (entry.images if entry else ()) if i.digest == top.digest), None)
        return [top.descriptor(platform=image_descriptor(image, None).get("platform") if image else None)]

    def has_manifest(self, ref, digest):
        return self.writer.has_blob(digest) and self.writer.index.has_manifest(digest)

    def has_blob(self, ref, digest):
        return self.writer.has_blob(digest)

    def mount_blob(self, ref, digest, source, source_ref):
        return False

    def put_blob(self, ref, descriptor, reader):
        self.writer.add_blob(descriptor["digest"], descriptor.get("size"), reader)

    def put_manifest(self, ref, manifest):
        self._manifests[manifest.digest] = manifest
        self.writer.add_manifest(manifest)

    def commit(self, ref, plan, options):
        images = []
        for descriptor in plan.selected:
            manifest = self._manifests.get(descriptor["digest"])
            if manifest is None and options.check_mode:
                manifest = plan.top if plan.top.digest == descriptor["digest"] else None
            if manifest is not None:
                platform = Platform.from_dict(descriptor.get("platform"))
                images.append(ArchivePlatformImage.for_manifest(manifest, platform, descriptor.get("annotations")))
                continue
            stored = self.writer.index.image(descriptor["digest"])
            if stored is not None:
                images.append(replace(stored, annotations=dict(descriptor.get("annotations") or {})))
        entry = ArchiveEntry(source=ref.name, tag=ref.tag, images=images,
                             index_digest=plan.top.digest, index_media_type=plan.top.media_type)
        current = self._entry_for(ref)
        changed = current is None or current.to_dict() != entry.to_dict()
        if changed and not options.check_mode:
            if plan.top.is_index and not self.writer.has_blob(plan.top.digest):
                self.writer.add_index_blob(plan.top)
            self.writer.put_entry(entry)
        # after: from the plan, which check mode has in full too (the entry lacks what was not read)
        return CommitOutcome(changed, plan.top.digest, entry_state(current),
                             DestinationState.of(plan.top.digest, plan.selected))


def entry_state(entry):
    """An archive entry as a DestinationState: its kept top-level digest and its platforms."""
    if entry is None:
        return DestinationState()
    return DestinationState.of(entry.index_digest, [image_descriptor(image, None) for image in entry.images])
