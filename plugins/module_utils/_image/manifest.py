# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manifest bytes with their media type and digest (private module_utils, no Ansible imports).

The bytes are the truth: they are kept exactly as served and never re-serialised, so the digest
always stays the one the source had. The parsed JSON is only read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .digest import sha256_digest
from .media_types import INDEX_TYPES, SCHEMA1_TYPES, detect_media_type, loads_bounded


@dataclass(frozen=True)
class Manifest:
    data: bytes
    media_type: str
    digest: str
    _doc: dict = field(default=None, compare=False, repr=False)

    @classmethod
    def from_bytes(cls, data, declared_media_type=None):
        """Wrap manifest bytes; the media type comes from the bytes (or what was declared)."""
        media_type = detect_media_type(data, declared_media_type)
        return cls(data, media_type, sha256_digest(data))

    @property
    def doc(self):
        if self._doc is None:
            doc = loads_bounded(self.data, "manifest %s" % self.digest)
            object.__setattr__(self, "_doc", doc)
        return self._doc

    @property
    def is_index(self):
        return self.media_type in INDEX_TYPES

    @property
    def is_schema1(self):
        return self.media_type in SCHEMA1_TYPES

    @property
    def size(self):
        return len(self.data)

    def descriptor(self, **extra):
        result = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        result.update({k: v for k, v in extra.items() if v})
        return result

    @property
    def children(self):
        """The descriptors of an index or manifest list."""
        return list(self.doc.get("manifests") or []) if self.is_index else []

    @property
    def config(self):
        return self.doc.get("config") or {}

    @property
    def layers(self):
        return list(self.doc.get("layers") or [])

    @property
    def annotations(self):
        return self.doc.get("annotations") or {}


def is_foreign_layer(descriptor):
    """Non-distributable layers carry `urls`: they are neither stored nor copied."""
    return bool(descriptor.get("urls"))


def blob_descriptors(manifest):
    """Config then layers of an image manifest, foreign layers left out, each digest once."""
    seen = set()
    result = []
    for descriptor in [manifest.config] + manifest.layers:
        digest = descriptor.get("digest")
        if digest and digest not in seen and not is_foreign_layer(descriptor):
            seen.add(digest)
            result.append(descriptor)
    return result
