# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`<archive>.sha256` beside an archive, in the `sha256sum` format (private module_utils, no Ansible imports).

The file holds one line, `<64 hex>  <archive file name>`, with the name relative to the file's
own folder, so `sha256sum -c images.zip.sha256` checks the archive in whatever folder both were
copied to. It is written to a temporary name beside it and renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import re

from .._errors import ArchiveError
from .._image.digest import CHUNK_SIZE
from .journal import committed_length, fsync_directory

SUFFIX = ".sha256"
_LINE_RE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


def checksum_path(archive_path):
    return os.fspath(archive_path) + SUFFIX


def archive_sha256(archive_path):
    """The sha256 hex of the committed archive (an update in progress is not part of it)."""
    try:
        with open(archive_path, "rb") as stream:
            length = committed_length(archive_path, stream.fileno())
            digest = hashlib.sha256()
            left = length
            while left:
                chunk = stream.read(min(CHUNK_SIZE, left))
                if not chunk:
                    raise ArchiveError("Error hashing archive %s: it ended after %d of %d bytes"
                                       % (archive_path, length - left, length))
                digest.update(chunk)
                left -= len(chunk)
    except OSError as exc:
        raise ArchiveError("Error hashing archive %s: %s" % (archive_path, exc.strerror or exc)) from exc
    return digest.hexdigest()


def read_checksum_file(archive_path):
    """(hex, name) from `<archive>.sha256`; ArchiveError when it is missing or not one sha256sum line."""
    path = checksum_path(archive_path)
    try:
        with open(path, encoding="utf-8") as stream:
            lines = [line.rstrip("\r\n") for line in stream if line.strip()]
    except OSError as exc:
        raise ArchiveError("Error reading checksum file %s: %s" % (path, exc.strerror or exc)) from exc
    match = _LINE_RE.match(lines[0]) if len(lines) == 1 else None
    if not match:
        raise ArchiveError("Error reading checksum file %s: expected one line '<sha256>  <file name>' as sha256sum "
                           "writes it" % path)
    return match.group(1).lower(), match.group(2)


def write_checksum_file(archive_path, check_mode=False, reuse_if_fresh=True):
    """Write `<archive>.sha256` for the archive as committed; True when the file changed.

    When the checksum file is newer than the archive and names it, the archive is not hashed
    again (a rerun that changed nothing stays cheap)."""
    path = checksum_path(archive_path)
    name = os.path.basename(archive_path)
    if reuse_if_fresh:
        try:
            fresh = os.stat(path).st_mtime_ns >= os.stat(archive_path).st_mtime_ns
            if fresh and read_checksum_file(archive_path)[1] == name:
                return False
        except (OSError, ArchiveError):
            pass
    line = "%s  %s\n" % (archive_sha256(archive_path), name)
    try:
        with open(path, encoding="utf-8") as stream:
            if stream.read() == line:
                if not check_mode:
                    os.utime(path)
                return False
    except OSError:
        pass
    if check_mode:
        return True
    directory, archive_name = os.path.split(os.fspath(archive_path))
    temporary = os.path.join(directory, ".%s.sha256-%d.hangar-tmp" % (archive_name, os.getpid()))
    try:
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(line)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        raise ArchiveError("Error writing checksum file %s: %s" % (path, exc.strerror or exc)) from exc
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    fsync_directory(os.path.dirname(path) or ".")
    return True


def verify_checksum_file(archive_path):
    """Raise ArchiveError unless `<archive>.sha256` names this archive and matches its sha256."""
    # The file beside the archive is the archive's whatever name it records (a copy may be renamed).
    expected, _name = read_checksum_file(archive_path)
    actual = archive_sha256(archive_path)
    if actual != expected:
        where = checksum_path(archive_path)
        raise ArchiveError("Error checking archive %s: sha256 %s does not match %s from %s; the archive was damaged "
                           "or changed after the checksum was written" % (archive_path, actual, expected, where))
    return actual
