"""Zip files written the way Go's archive/zip writes them, for archives that "come from the Hangar CLI".

Go's zip.Writer (which the Hangar CLI uses, through a fork with the same output) writes every
file entry with a data descriptor: general-purpose bit 3 set, CRC and sizes zero in the local
header, and a descriptor (signature, CRC, sizes; 64-bit sizes when ZIP64) after the data. The
central directory carries the real values, with a ZIP64 extra (sizes and offset) for entries
that need it, and ZIP64 end records when the counts or offsets overflow. Entries with a modified
time get Info-ZIP's extended timestamp extra; index.json, which Hangar writes without one, has
none. Nothing here uses zipfile: the bytes are Go's, struct by struct.

    write_go_zip(path, [(name, data), ...], zip64=False, declared_sizes=None)
    entries, index = hangar_cli_entries(images, blobs)      # tamper with entries, then write_go_zip
    index = write_hangar_cli_archive(path, images, blobs)   # images: [(source, tag, manifests)]
"""

import json
import struct
import zlib
from datetime import datetime, timedelta, timezone

from ansible_collections.airgap.hangar.plugins.module_utils._image.manifest import is_foreign_layer
from ansible_collections.airgap.hangar.plugins.module_utils._image.platform import Platform

UINT16_MAX = 0xFFFF
UINT32_MAX = 0xFFFFFFFF
ZIP_VERSION_20 = 20
ZIP_VERSION_45 = 45
FLAG_DATA_DESCRIPTOR = 0x8
EXTENDED_TIMESTAMP_ID = 0x5455
ZIP64_EXTRA_ID = 0x0001
HANGAR_TIME = datetime(2026, 3, 20, 15, 4, 5, tzinfo=timezone(timedelta(hours=8)))
HANGAR_TIME_TEXT = "2026-03-20T15:04:05.123456789+08:00"  # Go's RFC 3339 with nanoseconds
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


def _dos_date_time(moment):
    date = (moment.year - 1980) << 9 | moment.month << 5 | moment.day
    time = moment.hour << 11 | moment.minute << 5 | moment.second // 2
    return date, time


def write_go_zip(path, entries, zip64=False, declared_sizes=None, modified=HANGAR_TIME):
    """Write `entries` [(name, bytes)] as Go does; names ending in "/" are directory entries.

    zip64=True writes every file as Go does for one of 4 GiB or more (ZIP64 extra, 64-bit data
    descriptor, ZIP64 end records), without the 4 GiB. declared_sizes {name: size} makes the
    central directory lie about an entry's size (for tests of hostile archives). index.json gets
    no modified time, as in Hangar.
    """
    declared_sizes = declared_sizes or {}
    directory = []
    offset = 0
    with open(path, "wb") as out:
        for name, data in entries:
            name_bytes = name.encode("utf-8")
            is_dir = name.endswith("/")
            moment = None if name == "index.json" else modified
            extra = b""
            date, time = 0, 0
            if moment is not None:
                date, time = _dos_date_time(moment)
                extra = struct.pack("<HHBI", EXTENDED_TIMESTAMP_ID, 5, 1, int(moment.timestamp()))
            flags = 0 if is_dir else FLAG_DATA_DESCRIPTOR
            if any(ord(char) > 127 for char in name):
                flags |= 0x800
            header_offset = offset
            local = struct.pack("<IHHHHHIIIHH", 0x04034B50, ZIP_VERSION_20, flags, 0, time, date, 0, 0, 0,
                                len(name_bytes), len(extra))
            out.write(local + name_bytes + extra)
            offset += len(local) + len(name_bytes) + len(extra)
            crc = 0
            size = 0
            entry_zip64 = False
            if not is_dir:
                out.write(data)
                offset += len(data)
                crc = zlib.crc32(data)
                size = len(data)
                entry_zip64 = zip64 or size >= UINT32_MAX
                if entry_zip64:
                    descriptor = struct.pack("<IIQQ", 0x08074B50, crc, size, size)
                else:
                    descriptor = struct.pack("<IIII", 0x08074B50, crc, size, size)
                out.write(descriptor)
                offset += len(descriptor)
            size = declared_sizes.get(name, size)
            entry_zip64 = entry_zip64 or size >= UINT32_MAX
            directory.append((name_bytes, flags, time, date, crc, size, extra, header_offset, entry_zip64))

        start = offset
        for name_bytes, flags, time, date, crc, size, extra, header_offset, entry_zip64 in directory:
            reader_version = ZIP_VERSION_20
            stored_size = size
            stored_offset = min(header_offset, UINT32_MAX)
            if entry_zip64 or header_offset >= UINT32_MAX:
                stored_size = UINT32_MAX
                extra = extra + struct.pack("<HHQQQ", ZIP64_EXTRA_ID, 24, size, size, header_offset)
            if entry_zip64:
                reader_version = ZIP_VERSION_45
            if header_offset >= UINT32_MAX:
                stored_offset = UINT32_MAX
            record = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, ZIP_VERSION_20, reader_version, flags, 0,
                                 time, date, crc, stored_size, stored_size, len(name_bytes), len(extra), 0, 0, 0,
                                 0, stored_offset)
            out.write(record + name_bytes + extra)
            offset += len(record) + len(name_bytes) + len(extra)
        end = offset

        records, size, start_offset = len(directory), end - start, start
        if zip64 or records >= UINT16_MAX or size >= UINT32_MAX or start_offset >= UINT32_MAX:
            out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, ZIP_VERSION_45, ZIP_VERSION_45, 0, 0,
                                  records, records, size, start_offset))
            out.write(struct.pack("<IIQI", 0x07064B50, 0, end, 1))
            records, size, start_offset = UINT16_MAX, UINT32_MAX, UINT32_MAX
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, records, records, size, start_offset, 0))


# -- Hangar CLI archives

def _platform_manifests(manifests, blobs):
    """(descriptor platform dict, annotations, Manifest) of each platform manifest of an image."""
    by_digest = {manifest.digest: manifest for manifest in manifests}
    top = manifests[-1]
    if top.is_index:
        return [(child.get("platform") or {}, child.get("annotations") or {}, by_digest[child["digest"]])
                for child in top.children if child["digest"] in by_digest]
    config = json.loads(blobs[top.config["digest"]])
    return [(Platform.from_config(config).to_dict(), {}, top)]


def _image_spec(platform, annotations, manifest):
    """An images[] record with Go's field order (ImageSpec in Hangar's pkg/hangar/archive)."""
    spec = {
        "arch": platform.get("architecture") or "unknown", "os": platform.get("os") or "unknown",
        "osVersion": platform.get("os.version"), "osFeatures": platform.get("os.features"),
        "variant": platform.get("variant"), "mediaType": manifest.media_type,
        "layers": [layer["digest"] for layer in manifest.layers if not is_foreign_layer(layer)],
        "config": manifest.config.get("digest"), "digest": manifest.digest, "annotations": annotations,
    }
    return {key: value for key, value in spec.items() if value}


def _distinct(values):
    result = []
    for value in values:
        if value not in result:
            result.append(value)
    return result


def hangar_cli_entries(images, blobs, directory_entries=False, version="v1.2.0"):
    """The entries of a Hangar CLI archive, index.json last, and the index document.

    images: [(source, tag, manifests)], manifests as an ImageFactory image's `manifests` (the
    platform manifests, then the top one last); blobs: digest -> bytes of configs and layers.
    The top-level index is not stored and there is no indexDigest, as with the Hangar CLI.
    """
    entries, folders, written, index_list = [], set(), set(), []
    if directory_entries:
        entries += [("share/", b""), ("share/sha256/", b"")]
    for source, tag, manifests in images:
        specs = []
        for platform, annotations, manifest in _platform_manifests(manifests, blobs):
            spec = _image_spec(platform, annotations, manifest)
            specs.append(spec)
            hex_digest = manifest.digest[len("sha256:"):]
            if manifest.digest not in folders:
                folders.add(manifest.digest)
                layout_index = {"schemaVersion": 2, "manifests": [
                    {"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.size}]}
                if directory_entries:
                    entries.append((hex_digest + "/", b""))
                entries.append((hex_digest + "/index.json", json.dumps(layout_index, separators=(",", ":")).encode()))
                entries.append((hex_digest + "/oci-layout", OCI_LAYOUT))
            for digest in [manifest.digest, spec.get("config")] + spec.get("layers", []):
                if digest and digest not in written:
                    data = manifest.data if digest == manifest.digest else blobs[digest]
                    entries.append(("share/sha256/" + digest[len("sha256:"):], data))
                    written.add(digest)
        index_list.append({"source": source, "tag": tag, "archList": _distinct(s["arch"] for s in specs),
                           "osList": _distinct(s["os"] for s in specs), "images": specs})
    index = {"list": index_list, "version": version, "time": HANGAR_TIME_TEXT}
    if not index_list:
        del index["list"]
    entries.append(("index.json", json.dumps(index, separators=(",", ":")).encode()))
    return entries, index


def write_hangar_cli_archive(path, images, blobs, directory_entries=False, zip64=False, version="v1.2.0"):
    """Write a complete Hangar CLI archive (see hangar_cli_entries); returns its index document."""
    entries, index = hangar_cli_entries(images, blobs, directory_entries, version)
    write_go_zip(path, entries, zip64=zip64)
    return index


def blob_entry(digest):
    return "share/sha256/" + digest[len("sha256:"):]


def tampered(entries, name, data):
    """The entries with the bytes of `name` replaced."""
    return [(entry_name, data if entry_name == name else entry_data) for entry_name, entry_data in entries]
