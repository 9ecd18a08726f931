# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Hangar archive format: entry names and the root index.json (private module_utils, no Ansible imports).

The index lists one entry per saved `source:tag` (or per digest-pinned source), each with the
platform manifests stored for it. Beyond Hangar, an entry may record the source's top-level
manifest (`indexDigest`, `indexMediaType`); for a single-manifest image that is the one platform
manifest itself. Unknown keys of newer index versions are not kept when an index is rewritten.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .._errors import ArchiveError, HangarError
from .._image.digest import digest_hex, validate_digest
from .._image.manifest import is_foreign_layer
from .._image.platform import Platform, is_attestation

INDEX_VERSION = "v1.2.0"
INDEX_ENTRY = "index.json"
BLOB_DIRECTORY = "share/sha256/"

_BLOB_ENTRY_RE = re.compile(r"^share/sha256/([0-9a-f]{64})$")
# `<hex>/` itself is the folder's directory entry: the Hangar CLI finds a platform folder by that name.
_FOLDER_ENTRY_RE = re.compile(r"^([0-9a-f]{64})/(index\.json|oci-layout)?$")
_DIGEST_MATCH = re.compile(r"sha256:[0-9a-f]{64}").fullmatch
# (index.json key, attribute) of the string fields of an `images[]` object.
_IMAGE_STRINGS = (("arch", "arch"), ("os", "os"), ("variant", "variant"), ("osVersion", "os_version"),
                  ("mediaType", "media_type"), ("config", "config"), ("digest", "digest"))
_VERSION_RE = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_TIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
                      r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$")


# -- entry names

def blob_entry_name(digest):
    return BLOB_DIRECTORY + digest_hex(digest)


def folder_entry_names(digest):
    """The `<hex>/index.json` and `<hex>/oci-layout` entries of a platform manifest."""
    hex_digest = digest_hex(digest)
    return hex_digest + "/index.json", hex_digest + "/oci-layout"


def folder_directory_name(digest):
    """The `<hex>/` directory entry of a platform manifest's folder."""
    return digest_hex(digest) + "/"


def parse_entry_name(name):
    """What an entry name means: ("index", None), ("blob", digest), ("folder", digest), or None
    for any other name, which readers ignore."""
    if name == INDEX_ENTRY:
        return "index", None
    match = _BLOB_ENTRY_RE.match(name)
    if match:
        return "blob", "sha256:" + match.group(1)
    match = _FOLDER_ENTRY_RE.match(name)
    if match:
        return "folder", "sha256:" + match.group(1)
    return None


def folder_index_json(media_type, digest, size):
    """The OCI image-layout index of a `<hex>/` folder: exactly one descriptor, no ref.name."""
    document = {"schemaVersion": 2, "manifests": [{"mediaType": media_type, "digest": digest, "size": size}]}
    return _compact_json(document)


# -- the index model

@dataclass
class ArchivePlatformImage:
    """One stored platform manifest (attestations included) of an archive entry."""

    arch: str = ""
    os: str = ""
    variant: str = ""
    os_version: str = ""
    os_features: list = field(default_factory=list)
    media_type: str = ""
    layers: list = field(default_factory=list)
    config: str = ""
    digest: str = ""
    annotations: dict = field(default_factory=dict)

    def __post_init__(self):
        # Lists and dicts, whatever was passed, so that equal images compare equal.
        self.os_features = list(self.os_features or ())
        self.layers = list(self.layers or ())
        self.annotations = dict(self.annotations or {})
        for name in ("arch", "os", "variant", "os_version", "media_type", "config", "digest"):
            setattr(self, name, getattr(self, name) or "")

    @classmethod
    def for_manifest(cls, manifest, platform, annotations=None):
        """The record of an image manifest stored for `platform` (foreign layers are not stored)."""
        return cls(
            arch=platform.architecture or "unknown", os=platform.os or "unknown", variant=platform.variant,
            os_version=platform.os_version, os_features=list(platform.os_features),
            media_type=manifest.media_type,
            layers=[layer["digest"] for layer in manifest.layers if not is_foreign_layer(layer)],
            config=manifest.config.get("digest", ""), digest=manifest.digest, annotations=annotations,
        )

    @property
    def platform(self):
        return Platform(os=self.os, architecture=self.arch, variant=self.variant, os_version=self.os_version,
                        os_features=tuple(self.os_features))

    @property
    def is_attestation(self):
        return is_attestation({"annotations": self.annotations})

    @property
    def blob_digests(self):
        """The manifest, its config and its layers."""
        return {d for d in [self.digest, self.config] + self.layers if d}

    def to_dict(self):
        return _without_empty([
            ("arch", self.arch), ("os", self.os), ("osVersion", self.os_version),
            ("osFeatures", list(self.os_features)), ("variant", self.variant), ("mediaType", self.media_type),
            ("layers", list(self.layers)), ("config", self.config), ("digest", self.digest),
            ("annotations", dict(self.annotations)),
        ])

    @classmethod
    def from_dict(cls, doc, where):
        """Parse and validate one `images[]` object. This runs for every platform of every entry
        (an index of 20,000 entries has 40,000 or more), so it checks types directly and fills the
        instance without the copies __post_init__ makes for arbitrary callers."""
        if not isinstance(doc, dict):
            _require_object(doc, where)
        get = doc.get
        values = {}
        for key, name in _IMAGE_STRINGS:
            value = get(key)
            if value is None:
                value = ""
            elif not isinstance(value, str):
                raise ArchiveError("%s: %s must be a string" % (where, key))
            values[name] = value
        for key in ("config", "digest"):
            value = values[key]
            if value and not _DIGEST_MATCH(value):
                _checked_digest(value, where, key)
        layers = get("layers")
        if layers is None:
            layers = []
        elif not isinstance(layers, list) or not all(isinstance(item, str) and _DIGEST_MATCH(item) for item in layers):
            layers = _digests(doc, "layers", where)
        features = get("osFeatures")
        if features is None:
            features = []
        elif not isinstance(features, list) or not all(isinstance(item, str) for item in features):
            features = _strings(doc, "osFeatures", where)
        annotations = get("annotations")
        if annotations is None:
            annotations = {}
        elif not isinstance(annotations, dict) or not all(isinstance(item, str) for item in annotations.values()):
            annotations = _string_map(doc, "annotations", where)
        if not values["digest"]:
            raise ArchiveError("%s has no digest" % where)
        image = cls.__new__(cls)
        values.update(layers=list(layers), os_features=list(features), annotations=dict(annotations))
        image.__dict__.update(values)
        return image


@dataclass
class ArchiveEntry:
    """One saved reference: `source` (registry/project/name) and `tag`, or no tag when the image
    was pinned by digest (then `index_digest` says which)."""

    source: str
    tag: str | None = None
    images: list = field(default_factory=list)
    index_digest: str | None = None
    index_media_type: str | None = None
    # Supply-chain artifacts carried with the image (cosign .sig/.att/.sbom tags, OCI referrers), as
    # ArchiveArtifact; stored as blobs only, without a folder, so the Hangar CLI passes them by.
    artifacts: list = field(default_factory=list)

    def __post_init__(self):
        self.tag = self.tag or None
        self.images = list(self.images or ())
        self.artifacts = list(self.artifacts or ())
        self.index_digest = self.index_digest or None
        self.index_media_type = self.index_media_type or None

    @property
    def key(self):
        return _entry_key(self.source, self.tag, self.index_digest)

    @property
    def reference(self):
        return "%s:%s" % (self.source, self.tag) if self.tag else "%s@%s" % (self.source, self.index_digest)

    @property
    def arch_list(self):
        return _distinct(image.arch for image in self.images)

    @property
    def os_list(self):
        return _distinct(image.os for image in self.images)

    @property
    def manifest_digests(self):
        """The platform manifest digests, in index order."""
        return [image.digest for image in self.images]

    @property
    def blob_digests(self):
        """Every blob this entry needs: manifests, configs, layers and the top-level manifest."""
        digests = set()
        for image in self.images:
            digests |= image.blob_digests
        if self.index_digest:
            digests.add(self.index_digest)
        for artifact in self.artifacts:
            digests |= artifact.blob_digests
        return digests

    def to_dict(self):
        return _without_empty([
            ("source", self.source), ("tag", self.tag or ""), ("archList", self.arch_list),
            ("osList", self.os_list), ("images", [image.to_dict() for image in self.images]),
            ("indexDigest", self.index_digest or ""), ("indexMediaType", self.index_media_type or ""),
            ("artifacts", [artifact.to_dict() for artifact in self.artifacts]),
        ])

    @classmethod
    def from_dict(cls, doc, where):
        _require_object(doc, where)
        images = doc.get("images")
        if images is not None and not isinstance(images, list):
            raise ArchiveError("%s: images must be a list" % where)
        entry = cls(
            source=_string(doc, "source", where), tag=_string(doc, "tag", where),
            images=[ArchivePlatformImage.from_dict(image, "%s.images[%d]" % (where, number))
                    for number, image in enumerate(images or ())],
            index_digest=_digest(doc, "indexDigest", where), index_media_type=_string(doc, "indexMediaType", where),
            artifacts=[ArchiveArtifact.from_dict(item, "%s.artifacts[%d]" % (where, number))
                       for number, item in enumerate(_list(doc, "artifacts", where))],
        )
        _check_entry(entry, where)
        return entry


@dataclass(frozen=True)
class InvalidEntry:
    """An entry of index.json that could not be read: its position, what it names if anything, and why."""
    number: int
    source: str | None
    tag: str | None
    error: str


@dataclass(frozen=True)
class ArchiveArtifact:
    """A manifest that belongs to a stored manifest (`subject`): a cosign attachment under `tag`
    (`sha256-<hex>.sig`, `.att`, `.sbom`), or an OCI referrer (no tag). `blobs` are its config
    and layers; the manifest bytes and every blob live in share/sha256/."""

    subject: str
    digest: str
    media_type: str
    tag: str = ""
    artifact_type: str = ""
    blobs: tuple = ()
    annotations: tuple = ()  # sorted (key, value) pairs of the referrer descriptor's annotations

    @property
    def blob_digests(self):
        return {self.digest} | set(self.blobs)

    def to_dict(self):
        return _without_empty([
            ("subject", self.subject), ("tag", self.tag), ("mediaType", self.media_type), ("digest", self.digest),
            ("artifactType", self.artifact_type), ("blobs", list(self.blobs)), ("annotations", dict(self.annotations)),
        ])

    @classmethod
    def from_dict(cls, doc, where):
        _require_object(doc, where)
        artifact = cls(subject=_digest(doc, "subject", where), digest=_digest(doc, "digest", where),
                       media_type=_string(doc, "mediaType", where), tag=_string(doc, "tag", where),
                       artifact_type=_string(doc, "artifactType", where),
                       blobs=tuple(_digests(doc, "blobs", where)),
                       annotations=tuple(sorted(_string_map(doc, "annotations", where).items())))
        if not artifact.subject or not artifact.digest:
            raise ArchiveError("%s needs subject and digest" % where)
        return artifact


class ArchiveIndex:
    """The root index.json: entries keyed by source and tag (or source and digest when untagged)."""

    def __init__(self, entries=(), time=None, version=INDEX_VERSION):
        # key -> entry in insertion order, and reference counts of the digests the entries name,
        # so that put, find and the digest lookups are O(1) per entry (20,000-entry indexes exist).
        self._entries = {}
        self._blob_refs = self._images = self._image_refs = None
        # Counts the changes put and remove made: a writer compares it instead of every entry.
        self.revision = 0
        self.invalid = []  # InvalidEntry for each entry of index.json that could not be read
        self.version = version
        self.time = time or now()
        for entry in entries:
            self.put(entry)

    @property
    def entries(self):
        """The entries, in the order they were first added (a new list; change them with put/remove)."""
        return list(self._entries.values())

    def __len__(self):
        return len(self._entries)

    @classmethod
    def from_json(cls, data, strict=True):
        """Parse and validate index.json bytes; raises ArchiveError for anything unreadable, an
        empty version or one older than v1.2.0. Duplicate entries (the Hangar CLI appends them
        on sync): the last one wins. With strict=False a malformed entry is not an error: it goes
        to `invalid` instead of `entries`."""
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise ArchiveError("index.json is not valid JSON: %s" % exc) from exc
        _require_object(doc, "index.json")
        version = doc.get("version")
        check_version(version)
        entries = doc.get("list")
        if entries is not None and not isinstance(entries, list):
            raise ArchiveError("index.json: list must be a list")
        time = doc.get("time")
        index = cls(version=version, time=parse_time(time) if time is not None else None)
        for number, entry in enumerate(entries or ()):
            where = "index.json list[%d]" % number
            try:
                index.put(ArchiveEntry.from_dict(entry, where))
            except ArchiveError as exc:
                if strict:
                    raise
                # One malformed entry fails that entry only (see InvalidEntry), not the whole archive.
                source = entry.get("source") if isinstance(entry, dict) else None
                tag = entry.get("tag") if isinstance(entry, dict) else None
                index.invalid.append(InvalidEntry(number, source if isinstance(source, str) else None,
                                                  tag if isinstance(tag, str) else None, str(exc)))
        return index

    def to_dict(self):
        return _without_empty([
            ("list", [entry.to_dict() for entry in self.entries]), ("version", INDEX_VERSION),
            ("time", format_time(self.time)),
        ])

    def to_json(self):
        """Compact JSON, written as index version v1.2.0 whatever version was read."""
        return _compact_json(self.to_dict())

    def find(self, source, tag=None, digest=None):
        """The entry of source:tag, or of source@digest when there is no tag; None if absent."""
        return self._entries.get(_entry_key(source, tag, digest))

    def put(self, entry):
        """Add the entry, or replace the one with the same key in place; True if the index changed."""
        _check_entry(entry, entry.reference if entry.source else "archive entry")
        current = self._entries.get(entry.key)
        if current is not None:
            if current == entry:
                return False
            self._count(current, -1)
        self._entries[entry.key] = entry
        self._count(entry, 1)
        self.revision += 1
        return True

    def remove(self, source, tag=None, digest=None):
        """Remove the entry of source:tag (or source@digest); True if there was one."""
        entry = self._entries.pop(_entry_key(source, tag, digest), None)
        if entry is None:
            return False
        self._count(entry, -1)
        self.revision += 1
        return True

    def _count(self, entry, step):
        """Keep the digest counts current, once they have been built (see _references)."""
        if self._blob_refs is None:
            return
        blobs = entry.blob_digests
        if step > 0:
            self._blob_refs.update(blobs)
        else:
            self._blob_refs.subtract(blobs)
            for digest in blobs:
                if self._blob_refs[digest] <= 0:
                    del self._blob_refs[digest]
        for image in entry.images:
            self._image_refs[image.digest] += step
            if step > 0:
                self._images[image.digest] = image
            elif self._image_refs[image.digest] <= 0:
                del self._image_refs[image.digest]
                self._images.pop(image.digest, None)

    def _references(self):
        """Build the digest counts on first use: parsing an index that is only listed skips them."""
        if self._blob_refs is None:
            self._blob_refs, self._images, self._image_refs = Counter(), {}, Counter()
            for entry in self._entries.values():
                self._count(entry, 1)
        return self._blob_refs

    def all_blob_digests(self):
        """Every blob the index needs: layers, configs, platform manifests and top-level manifests."""
        return set(self._references())

    def needs_blob(self, digest):
        return digest in self._references()

    def manifest_digests(self):
        """The platform manifests stored, each with a `<hex>/` folder."""
        self._references()
        return set(self._images)

    def has_manifest(self, digest):
        """True when some entry names `digest` as a platform manifest (O(1))."""
        self._references()
        return digest in self._images

    def image(self, digest):
        """The ArchivePlatformImage of a platform manifest digest, or None (O(1))."""
        self._references()
        return self._images.get(digest)

    def images_by_digest(self):
        """digest -> ArchivePlatformImage, for every platform manifest of the index."""
        self._references()
        return dict(self._images)


# -- versions and times

def check_version(version):
    """Raise ArchiveError unless `version` is v1.2.0 or newer (pre-releases of v1.2.0 are older)."""
    if not version:
        raise ArchiveError("index.json has no version: Hangar archives of index version %s or newer are "
                           "supported (Hangar CLI v1.7 and later)" % INDEX_VERSION)
    match = _VERSION_RE.match(version) if isinstance(version, str) else None
    if not match:
        raise ArchiveError("index.json has an unrecognised version %r" % (version,))
    numbers = tuple(int(part or 0) for part in match.group(1, 2, 3))
    minimum = tuple(int(part) for part in INDEX_VERSION[1:].split("."))
    if numbers < minimum or (numbers == minimum and match.group(4)):
        raise ArchiveError("index.json version %s is older than %s, the oldest supported: save the archive again "
                           "with Hangar CLI v1.7 or later, or with this collection" % (version, INDEX_VERSION))


def now():
    return datetime.now().astimezone()


def format_time(value):
    """RFC 3339 with the offset, as Go's time.Time marshals."""
    return value.isoformat()


def parse_time(text):
    """An RFC 3339 time with offset (nanoseconds allowed, cut to microseconds)."""
    match = _TIME_RE.match(text) if isinstance(text, str) else None
    if not match:
        raise ArchiveError("index.json: time %r is not an RFC 3339 time" % (text,))
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    microsecond = int((match.group(7) or "0")[:6].ljust(6, "0"))
    if match.group(8):
        zone = timezone(timedelta(0))
    else:
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        zone = timezone(-offset if match.group(9) == "-" else offset)
    try:
        return datetime(year, month, day, hour, minute, min(second, 59), microsecond, zone)
    except ValueError as exc:
        raise ArchiveError("index.json: time %r is not a valid time: %s" % (text, exc)) from exc


# -- helpers

def _compact_json(document):
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _without_empty(pairs):
    """A dict of the pairs whose value is not empty: the format omits empty strings, lists and maps."""
    return {key: value for key, value in pairs if value not in ("", None) and value != [] and value != {}}


def _distinct(values):
    result = []
    for value in values:
        if value and value not in result:
            result.append(value)
    return result


def _entry_key(source, tag, digest):
    return (source, tag) if tag else (source, "@%s" % (digest or ""))


def _check_entry(entry, where):
    if not entry.source:
        raise ArchiveError("%s has no source" % where)
    if not entry.tag and not entry.index_digest:
        raise ArchiveError("%s has neither a tag nor an indexDigest" % where)


def _require_object(doc, where):
    if not isinstance(doc, dict):
        raise ArchiveError("%s must be a JSON object" % where)


def _string(doc, key, where):
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ArchiveError("%s: %s must be a string" % (where, key))
    return value


def _strings(doc, key, where):
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ArchiveError("%s: %s must be a list of strings" % (where, key))
    return value


def _string_map(doc, key, where):
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise ArchiveError("%s: %s must be a map of strings" % (where, key))
    return value


def _checked_digest(value, where, key):
    try:
        return validate_digest(value)
    except HangarError as exc:
        raise ArchiveError("%s: %s: %s" % (where, key, exc)) from exc


def _list(doc, key, where):
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ArchiveError("%s: %s must be a list" % (where, key))
    return value


def _digest(doc, key, where):
    value = _string(doc, key, where)
    return _checked_digest(value, where, key) if value else ""


def _digests(doc, key, where):
    return [_checked_digest(value, where, key) for value in _strings(doc, key, where)]
