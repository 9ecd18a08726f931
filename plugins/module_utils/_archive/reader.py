# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads Hangar archives: the index and verified blob streams (private module_utils, no Ansible imports).

The zip's central directory is read once with the standard zipfile module (ZIP64, data
descriptors and missing directory entries are all fine there). Entry data is then read with
os.pread on the archive's one file descriptor: no shared file position, so any number of
threads can stream blobs at once. A reader sees the last committed state of an archive that is
being updated in place, or that a killed update left: only the committed length the update's
journal records is read (journal.py). Only `index.json`, `share/sha256/<hex>` and
`<hex>/{index.json,oci-layout}` mean anything; every other entry is ignored, and nothing is ever
written to a path made from an entry name.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from contextlib import contextmanager
from functools import partial

from .._errors import ArchiveError
from .._image.digest import CHUNK_SIZE, VerifyingReader
from .index import (
    INDEX_ENTRY,
    ArchiveIndex,
    blob_entry_name,
    folder_directory_name,
    folder_entry_names,
    parse_entry_name,
)
from .journal import committed_length

MAX_SMALL_BLOB_SIZE = 64 * 1024 * 1024
_LOCAL_HEADER = struct.Struct("<4s22xHH")
_LOCAL_HEADER_SIGNATURE = b"PK\x03\x04"
_FLAG_ENCRYPTED = 0x1
_FLAG_UTF8 = 0x800
_FLAG_DATA_DESCRIPTOR = 0x8
_DESCRIPTOR_SIGNATURE = b"PK\x07\x08"
_LISTED_MISSING = 10


class ArchiveReader:
    """A Hangar archive opened for reading; use as a context manager or call close()."""

    def __init__(self, path, strict=True):
        """strict=False reads an archive whose index has malformed entries: they are left out of
        index.entries and listed in index.invalid, so that each fails alone (load, validate)."""
        self.path = os.fspath(path)
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 (kept open for the reader's lifetime)
        except OSError as exc:
            raise ArchiveError("Error opening archive %s: %s" % (self.path, exc.strerror or exc)) from exc
        try:
            self.file_size = committed_length(self.path, self._file.fileno())
            self._entries = self._read_central_directory()
            self._data_offsets = {}
            if INDEX_ENTRY not in self._entries:
                raise ArchiveError("%s is not a Hangar archive: no index.json" % self.path)
            data = self._read_index()  # its errors name the archive already
            try:
                self.index = ArchiveIndex.from_json(data, strict=strict)
            except ArchiveError as exc:
                raise ArchiveError("Error reading archive %s: %s" % (self.path, exc)) from exc
        except BaseException:
            self._file.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Close the archive; streams still open must not be read afterwards."""
        self._file.close()

    def fileno(self):
        return self._file.fileno()

    # -- what the archive holds

    @property
    def blob_digests(self):
        return {digest for kind, digest in map(parse_entry_name, self._entries) if kind == "blob"}

    def has_blob(self, digest):
        return blob_entry_name(digest) in self._entries

    def blob_size(self, digest):
        return self._entry(blob_entry_name(digest)).file_size

    @property
    def folder_digests(self):
        """The platform manifests that have a complete `<hex>/` folder."""
        folders = {digest for kind, digest in map(parse_entry_name, self._entries) if kind == "folder"}
        return {digest for digest in folders if self.has_manifest_folder(digest)}

    def has_manifest_folder(self, digest):
        return all(name in self._entries for name in folder_entry_names(digest))

    @property
    def folder_directory_digests(self):
        """The platform folders that have their `<hex>/` directory entry (Hangar CLI archives may not)."""
        return {digest for digest in self.folder_digests if folder_directory_name(digest) in self._entries}

    def dead_bytes(self):
        """Bytes before the central directory that no needed entry occupies: what earlier updates
        left (old index.json and central directories, replaced entries). A compaction frees them."""
        needed = {blob_entry_name(digest) for digest in self.index.all_blob_digests()}
        for digest in self.index.manifest_digests():
            needed.update(folder_entry_names(digest))
            needed.add(folder_directory_name(digest))
        needed.add(INDEX_ENTRY)
        live = 0
        for name, info in self._entries.items():
            if name in needed:
                live += self._entry_span(info)
        return max(0, self._directory_offset - live)

    def verify(self, check_content=False):
        """Check that every entry the index needs is present (blobs and `<hex>/` folders); with
        check_content, also read every needed blob and check its digest. Raises ArchiveError
        (or DigestMismatchError) naming what is wrong."""
        needed = {blob_entry_name(digest) for digest in self.index.all_blob_digests()}
        for digest in self.index.manifest_digests():
            needed.update(folder_entry_names(digest))
        missing = sorted(needed - set(self._entries))
        if missing:
            listed = ", ".join(missing[:_LISTED_MISSING]) + (", ..." if len(missing) > _LISTED_MISSING else "")
            raise ArchiveError("Error reading archive %s: %d entries named by index.json are missing: %s"
                               % (self.path, len(missing), listed))
        if check_content:
            for digest in sorted(self.index.all_blob_digests()):
                with self.open_blob(digest) as stream:
                    for _chunk in stream:
                        pass

    # -- reading blobs

    @contextmanager
    def open_blob(self, digest, size=None):
        """A VerifyingReader over a blob: the sha256 is checked as it streams (DigestMismatchError
        at the end if it differs). With `size`, an entry declaring another size is refused before
        anything is read."""
        offset, length = self._stored_data(blob_entry_name(digest), expected_size=size)
        yield VerifyingReader(_EntryStream(self._file.fileno(), offset, length, self.path), digest, length,
                              what="blob in archive %s" % self.path)

    def read_entry(self, name, max_size=MAX_SMALL_BLOB_SIZE):
        """The bytes of a small entry that is not a blob (a folder's index.json), CRC-checked."""
        info = self._entry(name)
        offset, length = self._stored_data(name, max_size=max_size)
        data = b"".join(_EntryStream(self._file.fileno(), offset, length, self.path))
        if zlib.crc32(data) != info.CRC:
            raise ArchiveError("Error reading archive %s: %s is corrupt (CRC mismatch)" % (self.path, name))
        return data

    def read_blob(self, digest, max_size=MAX_SMALL_BLOB_SIZE):
        """A small blob (manifest, config, index), verified; larger declared sizes are refused."""
        offset, length = self._stored_data(blob_entry_name(digest), max_size=max_size)
        stream = _EntryStream(self._file.fileno(), offset, length, self.path)
        return VerifyingReader(stream, digest, length, what="blob in archive %s" % self.path).read_all_verified()

    # -- internals

    def _read_central_directory(self):
        try:
            with zipfile.ZipFile(_CommittedView(self._file.fileno(), self.file_size)) as archive:
                infos = archive.infolist()
                self._directory_offset = archive.start_dir
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, struct.error) as exc:
            raise ArchiveError("Error reading archive %s: not a zip file, or truncated (%s)"
                               % (self.path, exc)) from exc
        entries = {}
        for info in infos:
            # orig_filename keeps what zipfile would cut at a NUL byte, so such names match nothing.
            if parse_entry_name(info.orig_filename):
                entries[info.orig_filename] = info  # a repeated name: the last one wins, as in zipfile
        return entries

    def _read_index(self):
        info = self._entry(INDEX_ENTRY)
        offset, length = self._stored_data(INDEX_ENTRY, max_size=MAX_SMALL_BLOB_SIZE)
        data = b"".join(_EntryStream(self._file.fileno(), offset, length, self.path))
        if zlib.crc32(data) != info.CRC:
            raise ArchiveError("Error reading archive %s: index.json is corrupt (CRC mismatch)" % self.path)
        return data

    def _entry(self, name):
        info = self._entries.get(name)
        if info is None:
            raise ArchiveError("Error reading archive %s: %s is missing" % (self.path, name))
        return info

    def _stored_data(self, name, expected_size=None, max_size=None):
        """(offset, size) of an entry's bytes, after checking what its headers declare."""
        info = self._entry(name)
        problem = None
        if info.flag_bits & _FLAG_ENCRYPTED:
            problem = "is encrypted"
        elif info.compress_type != zipfile.ZIP_STORED:
            problem = "is compressed (method %d); Hangar archives store every entry as is" % info.compress_type
        elif info.compress_size != info.file_size:
            problem = "declares %d stored bytes but %d bytes of content" % (info.compress_size, info.file_size)
        elif expected_size is not None and info.file_size != expected_size:
            problem = "holds %d bytes where %d were expected" % (info.file_size, expected_size)
        elif max_size is not None and info.file_size > max_size:
            problem = "declares %d bytes, more than the %d allowed for it" % (info.file_size, max_size)
        if problem:
            raise ArchiveError("Error reading archive %s: entry %s %s" % (self.path, name, problem))
        offset = self._data_offset(info)
        if offset + info.file_size > self.file_size:
            raise ArchiveError("Error reading archive %s: entry %s ends after the end of the file (truncated?)"
                               % (self.path, name))
        return offset, info.file_size

    def _data_offset(self, info):
        """Where the entry's bytes start: after its local header, whose name must match."""
        offset = self._data_offsets.get(info.orig_filename)
        if offset is None:
            fd = self._file.fileno()
            header = os.pread(fd, _LOCAL_HEADER.size, info.header_offset)
            if len(header) < _LOCAL_HEADER.size or header[:4] != _LOCAL_HEADER_SIGNATURE:
                raise ArchiveError("Error reading archive %s: entry %s has no local header"
                                   % (self.path, info.orig_filename))
            _signature, name_length, extra_length = _LOCAL_HEADER.unpack(header)
            name = os.pread(fd, name_length, info.header_offset + _LOCAL_HEADER.size)
            if name != info.orig_filename.encode("utf-8" if info.flag_bits & _FLAG_UTF8 else "cp437"):
                raise ArchiveError("Error reading archive %s: entry %s does not match its local header"
                                   % (self.path, info.orig_filename))
            offset = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
            self._data_offsets[info.orig_filename] = offset
        return offset

    def _entry_span(self, info):
        """Bytes of an entry in the file: local header, data and data descriptor."""
        if info.is_dir():
            start = info.header_offset
            header = os.pread(self._file.fileno(), _LOCAL_HEADER.size, start)
            if len(header) < _LOCAL_HEADER.size:
                return 0
            _signature, name_length, extra_length = _LOCAL_HEADER.unpack(header)
            return _LOCAL_HEADER.size + name_length + extra_length
        try:
            end = self._data_offset(info) + info.compress_size
        except ArchiveError:
            return 0
        if info.flag_bits & _FLAG_DATA_DESCRIPTOR:
            signature = os.pread(self._file.fileno(), 4, end) == _DESCRIPTOR_SIGNATURE
            zip64 = info.file_size >= 0xFFFFFFFF or _has_zip64_extra(info.extra)
            end += (4 if signature else 0) + 4 + (16 if zip64 else 8)
        return end - info.header_offset


def _has_zip64_extra(extra):
    position = 0
    while position + 4 <= len(extra):
        header_id, length = struct.unpack_from("<HH", extra, position)
        if header_id == 1:
            return True
        position += 4 + length
    return False


class _CommittedView:
    """The first `size` bytes of a file, as a read-only file object for zipfile (os.pread, so the
    reader's own file position is never used)."""

    def __init__(self, fd, size):
        self._fd = fd
        self._size = size
        self._position = 0

    def seekable(self):
        return True

    def tell(self):
        return self._position

    def seek(self, offset, whence=os.SEEK_SET):
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the archive")
        self._position = base + offset
        return self._position

    def read(self, size=-1):
        end = self._size if size is None or size < 0 else min(self._size, self._position + size)
        if end <= self._position:
            return b""
        data = os.pread(self._fd, end - self._position, self._position)
        self._position += len(data)
        return data

    def close(self):
        pass


class _EntryStream:
    """The bytes of one stored entry, read with os.pread (safe from several threads at once)."""

    def __init__(self, fd, offset, size, path):
        self._fd = fd
        self._position = offset
        self._end = offset + size
        self._path = path

    def read(self, size=CHUNK_SIZE):
        if size is None or size < 0:
            size = CHUNK_SIZE
        size = min(size, self._end - self._position)
        if size <= 0:
            return b""
        data = os.pread(self._fd, size, self._position)
        if not data:
            raise ArchiveError("Error reading archive %s: unexpected end of file" % self._path)
        self._position += len(data)
        return data

    def __iter__(self):
        return iter(partial(self.read, CHUNK_SIZE), b"")
