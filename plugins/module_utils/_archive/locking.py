# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The exclusive lock of an archive path, held by a writer for its whole read-modify-commit
(private module_utils, no Ansible imports).

The lock is an flock on `.<archive name>.lock.hangar-tmp` beside the archive (every file the
collection puts beside an archive matches `.<archive name>.*.hangar-tmp`). The holder writes its
PID into it, so a writer that gives up can name who holds it, and removes the file when it is
done, so nothing is left beside the archive after a run. Removing a lock file is safe because a
writer that wins the flock checks that the path still names the file it locked, and starts again
when it does not (the holder unlinked it meanwhile).

Readers never take this lock: they read the last committed state (see journal.py).
"""

from __future__ import annotations

import os
import time
from contextlib import suppress

from .._errors import ArchiveError

try:
    import fcntl
except ImportError:  # not POSIX: writers are not serialized
    fcntl = None

LOCK_SUFFIX = ".lock.hangar-tmp"
_POLL_SECONDS = (0.01, 0.25)


def lock_path(archive_path):
    directory, name = os.path.split(archive_path)
    return os.path.join(directory, ".%s%s" % (name, LOCK_SUFFIX))


class ArchiveLock:
    """An exclusive lock on one archive path; acquire(timeout) waits at most `timeout` seconds."""

    def __init__(self, archive_path):
        self.archive_path = archive_path
        self.path = lock_path(archive_path)
        self._fd = None
        self.waited = 0.0

    @property
    def held(self):
        return self._fd is not None

    def acquire(self, timeout=None):
        """Take the lock; ArchiveError naming the lock file and its holder when `timeout` passes."""
        if self._fd is not None or fcntl is None:
            return self
        started = time.monotonic()
        delay = _POLL_SECONDS[0]
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                waited = time.monotonic() - started
                if timeout is not None and waited >= timeout:
                    raise ArchiveError(
                        "Error updating archive %s: another run is writing it (lock file %s held by %s) and did "
                        "not finish within the timeout of %.0f s; run again when it has finished, or raise timeout"
                        % (self.archive_path, self.path, self._holder(), timeout)) from None
                pause = delay if timeout is None else min(delay, max(0.0, timeout - waited))
                time.sleep(pause)
                delay = min(delay * 2, _POLL_SECONDS[1])
                continue
            if not self._still_named(fd):
                os.close(fd)  # the holder removed it as we waited: lock the file that is there now
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, b"%d\n" % os.getpid(), 0)
            self._fd = fd
            self.waited = time.monotonic() - started
            return self

    def release(self):
        """Remove the lock file and release the lock; safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with suppress(OSError):
            os.unlink(self.path)
        os.close(fd)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()

    def _open(self):
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ArchiveError("Error updating archive %s: cannot create its lock file %s: %s"
                               % (self.archive_path, self.path, exc.strerror or exc)) from exc

    def _still_named(self, fd):
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def _holder(self):
        try:
            with open(self.path, "rb") as stream:
                text = stream.read(32).decode("ascii", "replace").strip()
        except OSError:
            text = ""
        return "process %s" % text if text.isdigit() else "another process"
