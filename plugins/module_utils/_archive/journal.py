# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The committed length of an archive being updated in place, and recovery after a kill
(private module_utils, no Ansible imports).

An update in place only ever appends: new entries go after the end of the committed archive,
then a new index.json, central directory and end record. The bytes of the committed archive are
never changed, so the committed archive stays whole as the first `length` bytes of the file.
Before the first byte is appended, the writer records that length (and which file it is) in the
journal `.<archive name>.journal.hangar-tmp` beside the archive, and removes the journal once the
new end record is written and synced:

- a reader that finds a journal for the file it opened reads only the first `length` bytes: it
  sees the last committed state, whatever a writer is doing or left (committed_length);
- the next writer, holding the archive lock, finds the journal of a killed run: when the file
  does not end in a complete end record whose central directory lies right before it, it cuts
  the file back to `length` (recover). Either way the archive is loadable with its previous
  content, or with the new one when the kill came after the end record was written.

The journal is one small write to a new file: a kill leaves it whole, empty or absent, and it
is empty or absent only before anything was appended.
"""

from __future__ import annotations

import json
import os
import struct
from contextlib import suppress

from .._errors import ArchiveError

JOURNAL_SUFFIX = ".journal.hangar-tmp"
_END = struct.Struct("<4s4H2LH")
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")
_ZIP64_END_SIGNATURE = b"PK\x06\x06"
_CENTRAL_SIGNATURE = b"PK\x01\x02"


def journal_path(archive_path):
    directory, name = os.path.split(archive_path)
    return os.path.join(directory, ".%s%s" % (name, JOURNAL_SUFFIX))


def begin_update(archive_path, fd, length):
    """Record, durably, that the file open as `fd` is committed up to `length` bytes."""
    stat = os.fstat(fd)
    record = json.dumps({"length": length, "device": stat.st_dev, "inode": stat.st_ino}).encode("ascii")
    path = journal_path(archive_path)
    journal = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(journal, record)
        os.fsync(journal)
    finally:
        os.close(journal)
    fsync_directory(os.path.dirname(path))


def finish_update(archive_path):
    """The new end record is written and synced: the update is the committed state.

    The unlink needs no directory sync: if a power cut undoes it, the journal is found again,
    readers read the previous state meanwhile, and the next writer keeps the new one, since the
    file ends in its complete end record."""
    with suppress(FileNotFoundError):
        os.unlink(journal_path(archive_path))


def read_journal(archive_path, fd):
    """The committed length the journal records for the file open as `fd`; None when there is no
    journal, an unreadable one (written before anything was appended) or one of another file."""
    try:
        with open(journal_path(archive_path), "rb") as stream:
            record = json.loads(stream.read(4096) or b"null")
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("length"), int):
        return None
    stat = os.fstat(fd)
    if (record.get("device"), record.get("inode")) != (stat.st_dev, stat.st_ino):
        return None  # the archive was replaced (new archive, compaction) since
    if record["length"] > stat.st_size:
        return None
    return record["length"]


def committed_length(archive_path, fd):
    """How many bytes of the file open as `fd` make the last committed archive (for readers)."""
    for _attempt in range(3):
        length = read_journal(archive_path, fd)
        if length is not None:
            return length
        size = os.fstat(fd).st_size
        if end_record_at(fd, size):
            return size
        # Either not one of ours (a zip comment, a broken file), or a writer began appending just
        # now: its journal is there already, read it again.
    length = read_journal(archive_path, fd)
    return length if length is not None else os.fstat(fd).st_size


def recover(archive_path):
    """Undo what a killed in-place update left (the caller holds the archive lock); returns the
    number of bytes cut off, or None when there was nothing to recover."""
    path = journal_path(archive_path)
    if not os.path.exists(path):
        return None
    cut = 0
    try:
        fd = os.open(archive_path, os.O_RDWR)
    except FileNotFoundError:
        fd = None
    except OSError as exc:
        raise ArchiveError("Error recovering archive %s after an interrupted update: %s"
                           % (archive_path, exc.strerror or exc)) from exc
    if fd is not None:
        try:
            length = read_journal(archive_path, fd)
            size = os.fstat(fd).st_size
            if length is not None and size > length and not end_record_at(fd, size):
                os.ftruncate(fd, length)
                os.fsync(fd)
                cut = size - length
        finally:
            os.close(fd)
    os.unlink(path)
    fsync_directory(os.path.dirname(path))
    return cut


def end_record_at(fd, size):
    """True when the file ends, at `size`, in a zip end record (no comment) whose central
    directory lies right before it: what a complete write of ours or Go's leaves."""
    if size < _END.size:
        return False
    end_offset = size - _END.size
    record = os.pread(fd, _END.size, end_offset)
    if len(record) != _END.size:
        return False
    signature, _disk, _cd_disk, _disk_count, _count, cd_size, cd_offset, comment = _END.unpack(record)
    if signature != _END_SIGNATURE or comment:
        return False
    if end_offset >= _ZIP64_LOCATOR.size:
        locator = os.pread(fd, _ZIP64_LOCATOR.size, end_offset - _ZIP64_LOCATOR.size)
        if locator[:4] == _ZIP64_LOCATOR_SIGNATURE:
            _sig, _disk, zip64_offset, _disks = _ZIP64_LOCATOR.unpack(locator)
            zip64 = os.pread(fd, _ZIP64_END.size, zip64_offset)
            if len(zip64) != _ZIP64_END.size or zip64[:4] != _ZIP64_END_SIGNATURE:
                return False
            fields = _ZIP64_END.unpack(zip64)
            if zip64_offset + 12 + fields[1] != end_offset - _ZIP64_LOCATOR.size:
                return False
            cd_size, cd_offset, end_offset = fields[8], fields[9], zip64_offset
    if cd_offset + cd_size != end_offset:
        return False
    return cd_size == 0 or os.pread(fd, 4, cd_offset) == _CENTRAL_SIGNATURE


def fsync_directory(directory):
    """Make a rename or unlink durable; some filesystems cannot fsync a directory, which is fine."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
