# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image lists: list files and inline `images` (private module_utils, no Ansible imports).

Default format: one reference a line. Mirror format: `SOURCE DEST TAG`, the tag applying to both
sides. Blank lines and lines starting with `#` or `//` are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import InputError
from .reference import ImageReference

DEFAULT_FORMAT = "default"
MIRROR_FORMAT = "mirror"


@dataclass(frozen=True)
class ImageListEntry:
    source: ImageReference
    dest: ImageReference | None  # set by the mirror format only
    line: str                    # the text as given, written back to failed_file
    origin: str                  # "FILE line N" or "images[N]", for messages
    format: str = DEFAULT_FORMAT


def _mirror_entry(source, dest, tag, line, origin):
    try:
        src = ImageReference.parse("%s:%s" % (source, tag))
        dst = ImageReference.parse("%s:%s" % (dest, tag))
    except InputError as exc:
        raise InputError("Error reading %s %r: %s" % (origin, line, exc)) from exc
    return ImageListEntry(src, dst, line, origin, MIRROR_FORMAT)


def _mapping_line(src, dst, item, origin):
    """The list line of a {source, dest} mapping without a tag, for failed_file: `SOURCE DEST TAG` when both
    sides have one tag and no digest, so the file reads back as a list; else a comment saying why there is
    no such line (a list line has one tag for both sides)."""
    if src.tag and src.tag == dst.tag and not src.digest and not dst.digest:
        return "%s %s %s" % (src.name, dst.name, src.tag)
    return "# %s {source: %s, dest: %s}: no list line can say this (one tag for both sides); give it as a mapping" \
        % (origin, item["source"], item["dest"])


def parse_line(text, origin, allow_mirror=False):
    """Parse one line; None for blank and comment lines."""
    stripped = text.strip()
    if not stripped or stripped.startswith(("#", "//")):
        return None
    fields = stripped.split()
    if len(fields) == 1:
        try:
            return ImageListEntry(ImageReference.parse(fields[0]), None, stripped, origin)
        except InputError as exc:
            raise InputError("Error reading %s %r: %s" % (origin, stripped, exc)) from exc
    if len(fields) == 3 and allow_mirror:
        return _mirror_entry(fields[0], fields[1], fields[2], stripped, origin)
    expected = "one image reference, or SOURCE DEST TAG" if allow_mirror else "one image reference"
    raise InputError("Error reading %s %r: expected %s" % (origin, stripped, expected))


def read_image_list(path, allow_mirror=False):
    """Parse an image-list file; raises InputError naming the file, line number and line."""
    try:
        with open(path, encoding="utf-8-sig") as handle:  # Windows editors write a BOM
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError("Error reading image list %s: %s" % (path, exc)) from exc
    entries = []
    for number, text in enumerate(lines, 1):
        entry = parse_line(text, "image list %s line %d" % (path, number), allow_mirror)
        if entry is not None:
            entries.append(entry)
    return entries


def parse_image_items(items, allow_mirror=False):
    """Parse the inline `images` option: strings in either format, or (mirror) mappings
    {source, dest[, tag]}."""
    entries = []
    for number, item in enumerate(items or []):
        origin = "images[%d]" % number
        if isinstance(item, dict):
            if not allow_mirror:
                raise InputError("Error reading %s %r: expected an image reference string" % (origin, item))
            unknown = sorted(set(item) - {"source", "dest", "tag"})
            if unknown or not item.get("source") or not item.get("dest"):
                raise InputError("Error reading %s %r: expected a mapping with keys source, dest and optional tag"
                                 % (origin, item))
            if item.get("tag"):
                entries.append(_mirror_entry(item["source"], item["dest"], item["tag"],
                                             "%s %s %s" % (item["source"], item["dest"], item["tag"]), origin))
            else:
                try:
                    src = ImageReference.parse(item["source"])
                    dst = ImageReference.parse(item["dest"])
                except InputError as exc:
                    raise InputError("Error reading %s %r: %s" % (origin, item, exc)) from exc
                entries.append(ImageListEntry(src, dst, _mapping_line(src, dst, item, origin), origin, MIRROR_FORMAT))
            continue
        if not isinstance(item, str):
            raise InputError("Error reading %s %r: expected an image reference string" % (origin, item))
        entry = parse_line(item, origin, allow_mirror)
        if entry is not None:
            entries.append(entry)
    return entries


def collect_entries(images=None, file=None, allow_mirror=False):
    """Entries from `file` then `images`, in order, without exact duplicates."""
    entries = []
    if file:
        entries.extend(read_image_list(file, allow_mirror))
    entries.extend(parse_image_items(images, allow_mirror))
    seen = set()
    unique = []
    for entry in entries:
        key = (entry.source, entry.dest)
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique
