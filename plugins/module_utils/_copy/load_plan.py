# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which archive images a load moves, and where each goes (private module_utils, no Ansible imports)."""

from __future__ import annotations

from .._errors import InputError
from .._image.image_list import collect_entries
from .._image.reference import ImageReference, normalize_registry
from .archive_store import find_entry
from .model import FAILED, ImageResult


def archive_reference(entry):
    """The reference an archive entry was saved from."""
    if entry.tag:
        return ImageReference.parse("%s:%s" % (entry.source, entry.tag))
    return ImageReference.parse("%s@%s" % (entry.source, entry.index_digest))


def destination_reference(source_ref, registry, project=None):
    """Where an image goes: the registry replaced, the project replaced when one is given."""
    ref = ImageReference(registry, source_ref.repository, source_ref.tag,
                         None if source_ref.tag else source_ref.digest)
    return ref.with_project(project) if project else ref


def invalid_entry_result(invalid, archive):
    """A failed result for an entry of the archive's index that could not be read."""
    try:
        ref = ImageReference.parse("%s:%s" % (invalid.source, invalid.tag) if invalid.tag else invalid.source)
    except (InputError, TypeError, AttributeError):
        ref = ImageReference("archive", "index-entry-%d" % invalid.number)
    return ImageResult(ref, "", status=FAILED, error="Error loading entry %d of archive %s: %s" % (
        invalid.number, archive or "", invalid.error))


def plan_load(index, registry, images=None, file=None, source_registry=None, project=None, archive=None):
    """One ImageResult per image to load, in order: every archive entry, or those named by
    `images`/`file` (matched against the archive's source:tag); a name the archive lacks is a
    failed result that says so, and so is an entry of the archive that could not be read."""
    registry = normalize_registry(registry)
    results = []
    invalid = list(getattr(index, "invalid", ()))
    if not images and not file:
        for entry in index.entries:
            source_ref = archive_reference(entry)
            dest_ref = destination_reference(source_ref, registry, project)
            results.append(ImageResult(source_ref, str(dest_ref), dest_ref=dest_ref))
        return results + [invalid_entry_result(item, archive) for item in invalid]
    override = normalize_registry(source_registry) if source_registry else None
    for wanted in collect_entries(images, file):
        ref = wanted.source.with_registry(override) if override else wanted.source
        entry = find_entry(index, ref)
        broken = [item for item in invalid if item.source == ref.name and item.tag in (None, ref.tag)]
        if entry is None and broken:
            result = invalid_entry_result(broken[0], archive)
            result.entry = wanted
        elif entry is None:
            result = ImageResult(ref, "", entry=wanted, status=FAILED,
                                 error="Error loading %s: not in the archive" % ref)
        else:
            source_ref = archive_reference(entry)
            dest_ref = destination_reference(source_ref, registry, project)
            result = ImageResult(source_ref, str(dest_ref), entry=wanted, dest_ref=dest_ref)
        results.append(result)
    return results
