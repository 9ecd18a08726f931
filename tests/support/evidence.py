"""Evidence from the file system that a module wrote nothing: snapshots and an inotify watch.

    before = folder_state(tmp_path)              # {relative path: (size, mtime_ns, sha256)}
    with FolderWatch(tmp_path) as watch:         # Linux inotify on the folder (not recursive)
        run_module("hangar_save", args, check_mode=True)
    assert watch.events == []                     # nothing created, written, renamed or removed, even briefly
    assert folder_state(tmp_path) == before

A snapshot alone misses a temporary file created and removed within the run; the watch sees it.
"""

import ctypes
import ctypes.util
import hashlib
import os
import select
import struct

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_NONBLOCK = 0o4000
_NAMES = {IN_MODIFY: "modify", IN_ATTRIB: "attrib", IN_CLOSE_WRITE: "close-write", IN_MOVED_FROM: "moved-from",
          IN_MOVED_TO: "moved-to", IN_CREATE: "create", IN_DELETE: "delete", IN_DELETE_SELF: "delete-self",
          IN_MOVE_SELF: "move-self"}
_WRITES = 0
for _mask in _NAMES:
    _WRITES |= _mask
_EVENT = struct.Struct("iIII")


def folder_state(path):
    """{relative path: (size, mtime_ns, sha256)} of every file under path; {} when path does not exist."""
    state = {}
    for root, _dirs, names in os.walk(path):
        for name in names:
            full = os.path.join(root, name)
            status = os.lstat(full)
            with open(full, "rb") as stream:
                digest = hashlib.sha256(stream.read()).hexdigest()
            state[os.path.relpath(full, path)] = (status.st_size, status.st_mtime_ns, digest)
    return state


class FolderWatch:
    """Every create/write/attribute change/rename/delete inside one folder while the block runs."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.events = []
        self._fd = None

    def __enter__(self):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        self._fd = libc.inotify_init1(IN_NONBLOCK)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        if libc.inotify_add_watch(self._fd, os.fsencode(self.path), _WRITES) < 0:
            os.close(self._fd)
            raise OSError(ctypes.get_errno(), "inotify_add_watch failed for %s" % self.path)
        return self

    def __exit__(self, *exc_info):
        try:
            self._drain()
        finally:
            os.close(self._fd)

    def _drain(self):
        while select.select([self._fd], [], [], 0.2)[0]:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            offset = 0
            while offset < len(data):
                _wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size:offset + _EVENT.size + length].rstrip(b"\0").decode()
                offset += _EVENT.size + length
                kinds = [label for bit, label in _NAMES.items() if mask & bit]
                if kinds:
                    self.events.append(("/".join(kinds), name))
