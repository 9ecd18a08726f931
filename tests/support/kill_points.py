"""Pause points for kill tests, installed in a child process before a module runs (module_process).

    install("mid-index")      # stop while index.json is half written into the new archive
    install("before-rename")  # stop just before the new archive is renamed over the old one

The child prints `PAUSED <phase>` on stderr and sleeps until it is killed, so a test knows the kill
lands in that phase (the network-side phases, mid-blob, are held by FaultProxy.hold_next instead).
"""

import os
import sys
import time

PHASES = ("mid-index", "before-rename")
MARKER = "PAUSED "


def _pause(phase):
    sys.stderr.write(MARKER + phase + "\n")
    sys.stderr.flush()
    time.sleep(3600)


def install(phase):
    if phase not in PHASES:
        raise ValueError("unknown pause point %r; known: %s" % (phase, ", ".join(PHASES)))
    from ansible_collections.airgap.hangar.plugins.module_utils._archive.writer import ArchiveWriter

    if phase == "mid-index":
        real_write_entry = ArchiveWriter._write_entry

        def write_entry(self, name, chunks, size):
            if name != "index.json":
                return real_write_entry(self, name, chunks, size)
            data = b"".join(chunks)

            def halves():
                yield data[:len(data) // 2]
                _pause(phase)
                yield data[len(data) // 2:]

            return real_write_entry(self, name, halves(), size)

        ArchiveWriter._write_entry = write_entry
    else:
        real_replace = os.replace

        def replace(source, target, *args, **kwargs):
            if str(source).endswith(".hangar-tmp"):
                _pause(phase)
            return real_replace(source, target, *args, **kwargs)

        os.replace = replace
