# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The destination index: merging descriptors and building an OCI index (private module_utils, no Ansible imports).

Used when the source's own index cannot be pushed byte for byte (BEHAVIOUR.md, "Destination
index"): an index is built from the copied platform manifests and merged with the one already at
the destination tag.
"""

from __future__ import annotations

import json

from .media_types import OCI_INDEX
from .platform import Platform, attestation_subject, is_attestation

# Key order of an OCI descriptor as the image-spec's Go types write it, so our output looks familiar.
_DESCRIPTOR_KEYS = ("mediaType", "digest", "size", "urls", "annotations", "data", "platform", "artifactType")


def _slot(descriptor):
    """What a descriptor stands for in an index: entries with the same slot replace each other.

    Attestations stand for their subject, platform manifests for their platform (Platform.key, so
    arm64 is arm64/v8 and Windows os.version counts), anything without a platform for itself.
    """
    if is_attestation(descriptor):
        return ("attestation", attestation_subject(descriptor))
    if not descriptor.get("platform"):
        return ("digest", descriptor.get("digest"))
    return ("platform",) + Platform.from_dict(descriptor["platform"]).key


def _group_by_slot(descriptors):
    """{slot: [descriptors]}, slots in order of first appearance."""
    groups = {}
    for descriptor in descriptors:
        groups.setdefault(_slot(descriptor), []).append(descriptor)
    return groups


def _without_orphan_attestations(descriptors):
    platform_digests = {d.get("digest") for d in descriptors if not is_attestation(d)}
    return [d for d in descriptors if not is_attestation(d) or attestation_subject(d) in platform_digests]


def merge_descriptors(existing, new):
    """The descriptors of `existing` updated with those of `new`.

    Every entry of `new` replaces the entries of `existing` in its slot (same platform, or same
    subject for an attestation), at the place of the first of them; slots only `new` has are
    appended in `new`'s order; existing entries in other slots stay where they are. Entries of
    one slot stay together, so merging the result with `new` again gives the same list. Last,
    attestations whose subject is not a platform manifest of the result are dropped.
    The input dicts are not modified; the result holds the same dict objects.
    """
    replacements = _group_by_slot(new)
    merged = []
    placed = set()
    for descriptor in existing:
        slot = _slot(descriptor)
        if slot not in replacements:
            merged.append(descriptor)
        elif slot not in placed:
            merged.extend(replacements[slot])
            placed.add(slot)
    for slot, descriptors in replacements.items():
        if slot not in placed:
            merged.extend(descriptors)
    return _without_orphan_attestations(merged)


def _comparable(descriptor):
    platform = descriptor.get("platform")
    return (
        descriptor.get("digest"),
        descriptor.get("mediaType"),
        descriptor.get("size"),
        Platform.from_dict(platform) if platform else None,
        dict(descriptor.get("annotations") or {}),
    )


def same_descriptors(a, b):
    """True when both lists name the same entries (digest, mediaType, size, platform, annotations)
    in the same order.

    Order counts because a client takes the first entry that matches its platform. It costs
    nothing on a rerun: merge_descriptors keeps the existing order, so an unchanged merge
    compares equal. Platforms compare as Platform values, so key order and empty fields in the
    JSON do not count; `arm64` and `arm64/v8` do, as the pushed bytes would differ.
    """
    return [_comparable(d) for d in a] == [_comparable(d) for d in b]


def _ordered_descriptor(descriptor):
    result = {}
    for key in _DESCRIPTOR_KEYS:
        value = descriptor.get(key)
        if key == "platform" and value:
            value = Platform.from_dict(value).to_dict()
        elif key == "annotations" and value:
            value = dict(sorted(value.items()))
        if value or (key == "size" and value is not None):
            result[key] = value
    return result


def build_index(descriptors):
    """The bytes of an OCI image index naming `descriptors`: compact JSON, stable key order."""
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [_ordered_descriptor(d) for d in descriptors],
    }
    return json.dumps(index, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def platform_descriptor(manifest, platform, annotations=None):
    """The index descriptor of `manifest` (a _manifest.Manifest) for `platform` (a Platform or a
    platform dict; None for none), with the annotations it had in the source index."""
    if isinstance(platform, dict):
        platform = Platform.from_dict(platform)
    return manifest.descriptor(platform=platform.to_dict() if platform else None,
                               annotations=dict(annotations) if annotations else None)
