# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writes Hangar archives, new or updated in place, crash-safe (private module_utils, no Ansible imports).

A writer holds the archive's exclusive lock (locking.py) from the moment it reads the archive
until it has committed or given up, so concurrent writers take turns and each works on what the
one before committed. Whatever moment the process is killed, the archive path holds a loadable
archive with the previous content (or nothing if there was none), or the new one once committed:
- a new archive (or `reuse=False`, or `compact=True`) is written to a temporary file beside it,
  `.<archive name>.<random>.hangar-tmp`, which commit() completes, fsyncs and renames over the
  archive with os.replace(); a writer holds an flock on its temporary file, and the next writer
  deletes the temporary files of the same archive that nobody holds (never in check mode);
- an existing archive is updated in place: its committed length is journaled (journal.py), new
  entries are appended after its end, and commit() appends a new index.json, central directory
  and end record, syncs, and drops the journal. The committed bytes are never rewritten, so
  readers keep reading the last committed state meanwhile, and a killed update is cut back to it
  by the next writer. Entries nobody references any more, the old index.json and the old central
  directory stay as dead bytes until `compact=True` rewrites the archive without them.

Entries are written with the standard zipfile module: stored, never compressed, ZIP64 where sizes,
offsets or the entry count need it. Updating in place uses three long-stable but undocumented
zipfile attributes: `filelist`, `NameToInfo` and `start_dir`.
"""

from __future__ import annotations

import errno
import io
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
import zipfile
from contextlib import contextmanager, suppress

from .._errors import ArchiveError, DigestMismatchError
from .._image.digest import CHUNK_SIZE, VerifyingReader, validate_digest
from .._image.media_types import OCI_LAYOUT_VERSION
from .index import (
    INDEX_ENTRY,
    ArchiveIndex,
    blob_entry_name,
    folder_directory_name,
    folder_entry_names,
    folder_index_json,
    now,
    parse_entry_name,
)
from .journal import begin_update, finish_update, fsync_directory, recover
from .locking import ArchiveLock
from .reader import ArchiveReader

try:
    import fcntl
except ImportError:  # not POSIX: no locks, stale temporary files are removed when they can be
    fcntl = None

TEMP_SUFFIX = ".hangar-tmp"
_ENTRY_MODE = 0o644 << 16
_DIRECTORY_MODE = (0o40755 << 16) | 0x10  # MS-DOS directory flag, as Go writes it


class ArchiveWriter:
    """Adds blobs, manifests and index entries to a Hangar archive, then commits it atomically.

    with ArchiveWriter(path, timeout=600) as writer:   # reuse=False starts a new archive (force)
        writer.add_blob(digest, size, reader)
        writer.add_manifest(manifest)
        writer.put_entry(entry)
        changed = writer.commit()             # leaving the block without commit() discards everything

    add_blob, add_manifest, add_index_blob and put_entry may be called from several threads.
    `timeout` bounds the wait for another writer's lock (None: wait for it). With `check_mode`
    the writer takes no lock and writes, recovers and deletes nothing; commit() then only says
    whether it would change the archive. `compact=True` rewrites the archive without dead bytes.
    """

    def __init__(self, path, reuse=True, timeout=None, check_mode=False, compact=False):
        # Like Ansible's atomic_move: a symlink stays, the file it points to is replaced.
        self.path = os.path.realpath(os.fspath(path))
        self._directory, self._name = os.path.split(self.path)
        if os.path.isdir(self.path):
            raise ArchiveError("Error writing archive %s: it is a directory" % self.path)
        if not os.path.isdir(self._directory):
            raise ArchiveError("Error writing archive %s: its directory does not exist" % self.path)
        self.check_mode = check_mode
        self.recovered_bytes = None
        self._lock = ArchiveLock(self.path)
        if not check_mode:
            self._lock.acquire(timeout)
        try:
            if not check_mode:
                self.recovered_bytes = recover(self.path)
                remove_stale_temp_files(self.path)
            self._base = _open_base(self.path) if reuse and os.path.exists(self.path) else None
        except BaseException:
            self._lock.release()
            raise
        self._compact = bool(compact and self._base is not None)
        self._in_place = self._base is not None and not self._compact
        self._journaled = False
        self.index = self._base.index if self._base else ArchiveIndex()
        self._base_revision = self.index.revision
        self._blob_sizes = {d: self._base.blob_size(d) for d in self._base.blob_digests} if self._base else {}
        # What the zip being written holds already: in place, the base's folders; else nothing yet.
        self._folders = self._base.folder_digests if self._in_place else set()
        self._directories = self._base.folder_directory_digests if self._in_place else set()
        self._written_blobs = set(self._blob_sizes) if self._in_place else set()
        self._zip_lock = threading.Lock()
        self._state = threading.Condition()
        self._in_progress = set()
        self._zip = None
        self._temp_file = None
        self._temp_path = None
        self._wrote = False
        self._failure = None
        self._finished = False
        self._date_time = time.localtime()[:6]

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.abort()

    # -- adding content

    def has_blob(self, digest):
        return digest in self._blob_sizes

    def blob_size(self, digest):
        """The size of a stored blob, or None."""
        return self._blob_sizes.get(digest)

    def add_blob(self, digest, size, reader):
        """Stream a blob into the archive, verifying it, unless it is there already; True if written.

        `reader` has read(n) or yields chunks; a VerifyingReader for this digest is used as it is
        (hashing once), anything else is verified here. On a mismatch DigestMismatchError is
        raised and no entry is left for the blob. `size` None (unknown) makes a ZIP64 entry.
        """
        validate_digest(digest)
        self._check_open()
        if not self._claim(digest):
            return False
        try:
            stream = reader if _verifies(reader, digest) else VerifyingReader(reader, digest, size)
            self._store_blob(digest, size, stream)
        finally:
            self._release(digest)
        return True

    def add_index_blob(self, manifest):
        """Store a manifest's bytes as a blob only (a top-level index or manifest list)."""
        return self.add_blob(manifest.digest, manifest.size, io.BytesIO(manifest.data))

    def add_manifest(self, manifest):
        """Store a platform manifest: its bytes as a blob, and its `<hex>/` folder."""
        self.add_index_blob(manifest)
        with self._zip_lock:
            if manifest.digest not in self._folders:
                self._write_folder(manifest.digest, manifest.media_type, manifest.size)

    def put_entry(self, entry):
        """Add or replace the index entry of the entry's source and tag; every blob it needs must
        have been stored. True if the index changed."""
        with self._state:
            missing = sorted(d for d in entry.blob_digests if d not in self._blob_sizes)
            if missing:
                raise ArchiveError("Error adding %s to archive %s: blobs not stored: %s"
                                   % (entry.reference, self.path, ", ".join(missing)))
            return self.index.put(entry)

    # -- finishing

    def commit(self):
        """Move the new archive into place; False, with the file untouched, when nothing changed."""
        with self._zip_lock:
            self._check_open()
            with self._state:
                if self._in_progress:
                    raise ArchiveError("Error writing archive %s: blobs are still being written" % self.path)
                changed = self._wrote or self.index.revision != self._base_revision
                if self._compact and not changed:
                    changed = self._base.dead_bytes() > 0
            if not changed or self.check_mode:
                self._close()
                return changed
            stored = self._blob_sizes.keys()
            incomplete = [entry.reference for entry in self.index.entries if entry.blob_digests - stored]
            if incomplete:
                missing = sorted(self.index.all_blob_digests() - stored)
                raise ArchiveError("Error writing archive %s: %s name blobs that are not stored: %s"
                                   % (self.path, ", ".join(incomplete), ", ".join(missing)))
            self._open_zip()
            if self._compact:
                self._copy_base_blobs()
            for digest, image in sorted(self.index.images_by_digest().items()):
                if digest not in self._folders:
                    self._write_folder(digest, image.media_type, self._blob_sizes[digest])
                elif digest not in self._directories:
                    self._write_directory(digest)
            self._rebuild_central_directory()
            self.index.time = now()
            data = self.index.to_json()
            self._write_entry(INDEX_ENTRY, [data], len(data))
            self._io(self._finish_temp_file)
            if self._in_place:
                self._io(finish_update, self.path)
                self._journaled = False
            else:
                self._io(os.replace, self._temp_path, self.path)
                self._temp_path = None
                fsync_directory(self._directory)
            self._close()
        return True

    def abort(self):
        """Discard every change: the archive path keeps what it held. Safe to call twice."""
        with self._zip_lock:
            self._close()

    # -- internals

    def _copy_base_blobs(self):
        """Compaction: every blob the index needs that the new file lacks, copied (and verified) from the old."""
        for digest in sorted(self.index.all_blob_digests() - self._written_blobs):
            with self._base.open_blob(digest) as stream:
                self._write_entry(blob_entry_name(digest), stream, self._blob_sizes[digest])
            self._written_blobs.add(digest)

    def _check_open(self):
        if self._failure is not None:
            raise ArchiveError("Error writing archive %s: an earlier write failed: %s%s"
                               % (self.path, self._failure, _disk_full_hint(self._failure, self)))
        if self._finished:
            raise ArchiveError("Error writing archive %s: the writer is closed" % self.path)

    def _claim(self, digest):
        """Reserve a digest for this thread; False if it is stored (another thread may have just done it)."""
        with self._state:
            while digest in self._in_progress:
                self._state.wait()
            if digest in self._blob_sizes:
                return False
            self._in_progress.add(digest)
            return True

    def _release(self, digest):
        with self._state:
            self._in_progress.discard(digest)
            self._state.notify_all()

    def _store_blob(self, digest, size, stream):
        name = blob_entry_name(digest)
        if self._zip_lock.acquire(blocking=False):
            try:
                length = self._write_entry(name, stream, size)
            finally:
                self._zip_lock.release()
        else:
            # Another entry is being written: take this blob beside the archive meanwhile rather
            # than keep its source waiting (registries and proxies drop connections left unread).
            try:
                with _spooled(stream, self._directory, self._name) as (spool, length), self._zip_lock:
                    chunks = iter(lambda: spool.read(CHUNK_SIZE), b"")
                    self._write_entry(name, chunks, length if size is None else size)
            except OSError as exc:
                # The spool beside the archive: the disk that failed it is the archive's, so the update is
                # given up as a failed write into the archive is (the archive goes back to its last commit).
                self._failure = exc
                raise ArchiveError("Error writing archive %s: %s (holding a blob beside it)%s"
                                   % (self.path, exc, _disk_full_hint(exc, self))) from exc
        with self._state:
            self._blob_sizes[digest] = length
            self._written_blobs.add(digest)
            self._wrote = True

    def _write_folder(self, digest, media_type, size):
        index_name, layout_name = folder_entry_names(digest)
        data = folder_index_json(media_type, digest, size)
        self._write_directory(digest)
        self._write_entry(index_name, [data], len(data))
        self._write_entry(layout_name, [OCI_LAYOUT_VERSION], len(OCI_LAYOUT_VERSION))
        self._folders.add(digest)
        with self._state:
            self._wrote = True

    def _write_directory(self, digest):
        """A folder's directory entry: the Hangar CLI's loader looks a platform folder up by `<hex>/`."""
        self._check_open()
        archive = self._open_zip()
        info = zipfile.ZipInfo(folder_directory_name(digest), self._date_time)
        info.external_attr = _DIRECTORY_MODE
        info.CRC = info.compress_size = info.file_size = 0
        self._io(archive.mkdir, info)
        self._directories.add(digest)

    def _write_entry(self, name, chunks, size):
        """Write one stored entry (the zip lock is held); when anything fails, the entry is
        forgotten and its bytes will be overwritten, so no entry is left for it."""
        self._check_open()
        archive = self._open_zip()
        info = zipfile.ZipInfo(name, self._date_time)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = _ENTRY_MODE
        info.file_size = size or 0
        out = self._io(archive.open, info, "w", force_zip64=size is None)
        try:
            written = 0
            for chunk in chunks:
                written += len(chunk)
                if size is not None and written > size:
                    break
                self._io(out.write, chunk)
            if size is not None and written != size:
                actual = "more than %d bytes" % size if written > size else "%d bytes" % written
                raise DigestMismatchError("%d bytes" % size, actual, name)
        except BaseException:
            self._io(out.close)
            _forget_last_entry(archive, info)
            raise
        self._io(out.close)
        return written

    def _io(self, function, *args, **kwargs):
        """An I/O call on the temporary archive: if it fails, the writer can only be aborted."""
        try:
            return function(*args, **kwargs)
        except OSError as exc:
            self._failure = exc
            raise ArchiveError("Error writing archive %s: %s%s" % (self.path, exc, _disk_full_hint(exc, self))) from exc

    def _open_zip(self):
        if self._zip is None:
            if self.check_mode:
                raise ArchiveError("Error writing archive %s: nothing is written in check mode" % self.path)
            if self._in_place:
                self._temp_file = self._io(open, self.path, "r+b")
                length = self._base.file_size
                if self._io(os.fstat, self._temp_file.fileno()).st_size != length:
                    raise ArchiveError("Error updating archive %s: it changed while it was locked (another tool "
                                       "wrote it?); run again" % self.path)
                self._io(begin_update, self.path, self._temp_file.fileno(), length)
                self._journaled = True
                self._zip = self._io(zipfile.ZipFile, self._temp_file, "a", allowZip64=True)
                _drop_old_index(self._zip)
                # Append after the committed end: its bytes stay as they are until the commit is done.
                self._zip.start_dir = length
            else:
                fd, self._temp_path = self._io(_create_temp_file, self.path)
                self._temp_file = os.fdopen(fd, "w+b")
                self._zip = zipfile.ZipFile(self._temp_file, "w", zipfile.ZIP_STORED, allowZip64=True)
        return self._zip

    def _rebuild_central_directory(self):
        """Keep the entries the index references, and any entry that is not ours to judge."""
        blobs, folders = self.index.all_blob_digests(), self.index.manifest_digests()

        def referenced(info):
            meaning = parse_entry_name(info.filename)
            if meaning is None:
                return True
            kind, digest = meaning
            return digest in blobs if kind == "blob" else kind == "folder" and digest in folders

        _keep_entries(self._zip, referenced)

    def _finish_temp_file(self):
        self._zip.close()
        # Bytes of an entry that failed last may lie beyond the end record: cut them off.
        self._temp_file.truncate(self._temp_file.tell())
        self._temp_file.flush()
        os.fsync(self._temp_file.fileno())

    def _close(self):
        if self._finished:
            return
        self._finished = True
        try:
            if self._zip is not None:
                with suppress(OSError, ValueError):
                    self._zip.close()
            if self._journaled:
                # An update that is not committed: back to the committed length, then no journal.
                self._temp_file.flush()
                os.ftruncate(self._temp_file.fileno(), self._base.file_size)
                os.fsync(self._temp_file.fileno())
                finish_update(self.path)
                self._journaled = False
            if self._temp_file is not None:
                self._temp_file.close()
            if self._temp_path is not None:
                with suppress(FileNotFoundError):
                    os.unlink(self._temp_path)
            if self._base is not None:
                self._base.close()
        finally:
            self._lock.release()


# -- zip central directory

def _keep_entries(archive, keep):
    """Keep in the central directory the entries `keep` accepts, one per name (the last)."""
    last = {info.filename: info for info in archive.filelist}
    archive.filelist[:] = [info for info in archive.filelist if last[info.filename] is info and keep(info)]
    archive.NameToInfo.clear()
    archive.NameToInfo.update((info.filename, info) for info in archive.filelist)


def _drop_old_index(archive):
    """Take index.json out of the central directory (its bytes stay, dead, until a compaction)."""
    _keep_entries(archive, lambda info: info.filename != INDEX_ENTRY)


def _forget_last_entry(archive, info):
    if archive.filelist and archive.filelist[-1] is info:
        archive.filelist.pop()
    if archive.NameToInfo.get(info.filename) is info:
        del archive.NameToInfo[info.filename]
    archive.start_dir = info.header_offset


# -- files

def remove_stale_temp_files(archive_path):
    """Delete the temporary files of this archive that no live writer holds; returns their paths."""
    directory, name = os.path.split(os.path.abspath(archive_path))
    pattern = re.compile(r"\.%s\.[0-9a-f]{12}%s" % (re.escape(name), re.escape(TEMP_SUFFIX)))
    removed = []
    try:
        candidates = [candidate for candidate in os.listdir(directory) if pattern.fullmatch(candidate)]
    except OSError:
        return removed
    for candidate in candidates:
        path = os.path.join(directory, candidate)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            if _try_lock(fd):
                os.unlink(path)
                removed.append(path)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _create_temp_file(archive_path):
    """Create and lock `.<name>.<random>.hangar-tmp` beside the archive, with the archive's mode."""
    directory, name = os.path.split(archive_path)
    try:
        mode = os.stat(archive_path).st_mode & 0o7777
    except OSError:
        mode = None  # a new archive: the process umask decides
    while True:
        path = os.path.join(directory, ".%s.%s%s" % (name, secrets.token_hex(6), TEMP_SUFFIX))
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            mine = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            mine = False  # a cleanup in another process took it before the lock was ours
        if mine:
            if mode is not None:
                os.fchmod(fd, mode)
            return fd, path
        os.close(fd)


def _try_lock(fd):
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def _spooled(stream, directory, name):
    """Read `stream` to its end (so it is verified) into an anonymous file; yields (file, length)."""
    with tempfile.TemporaryFile(dir=directory, prefix=".%s." % name, suffix=".hangar-spool") as spool:
        length = 0
        for chunk in stream:
            spool.write(chunk)
            length += len(chunk)
        spool.seek(0)
        yield spool, length


# -- helpers

def _open_base(path):
    try:
        return ArchiveReader(path)
    except ArchiveError as exc:
        raise ArchiveError("Error updating archive %s: it is not a readable Hangar archive (%s); set force: true "
                           "to replace it with a new archive" % (path, exc)) from exc


def _verifies(reader, digest):
    # A reader that already checks this digest is not wrapped again, so each blob is hashed once.
    return isinstance(reader, VerifyingReader) and reader.digest == digest


def _disk_full_hint(exc, writer):
    """For a full disk or quota: how much is free beside the archive and how much the new one needed."""
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return ""
    try:
        free = shutil.disk_usage(writer._directory).free
    except OSError:
        return ""
    written = 0
    try:
        if writer._temp_file is not None:
            written = writer._temp_file.tell()
    except (OSError, ValueError):
        pass
    if writer._in_place:
        return ("; %d bytes free in %s, and the archive had reached %d bytes when the write failed: free at least "
                "the size of the images being added (the archive is cut back to its last committed state)"
                % (free, writer._directory, written))
    return ("; %d bytes free in %s, and the new archive had reached %d bytes when the write failed: free at "
            "least that much more (the new archive is written beside the old one before replacing it)"
            % (free, writer._directory, written))
