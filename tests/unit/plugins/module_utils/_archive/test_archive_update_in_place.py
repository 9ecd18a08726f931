"""Updates in place: kill -9 at seeded points of every phase, recovery by the next writer, compaction.

A child process updates an archive with ArchiveWriter and prints a marker as it enters each phase;
slow blob reads and slow index.json and central-directory writes keep each phase open long enough
to land in.
The parent kills it (SIGKILL) at a seeded delay after a seeded marker and logs where each kill
landed (the last marker the child printed). After every kill a reader finds the previous content,
the next writer recovers the file (cut back, or kept when the new end record was complete), and a
final run completes with nothing left beside the archive.
"""

import os
import random
import signal
import subprocess
import sys

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._archive.journal import end_record_at, journal_path
from ansible_collections.airgap.hangar.plugins.module_utils._archive.reader import ArchiveReader
from ansible_collections.airgap.hangar.plugins.module_utils._archive.writer import ArchiveWriter
from tests.support.archive_checks import check_archive_layout, store_image
from tests.support.image_factory import ImageFactory

SEED = 20261201
KiB = 1024
MiB = 1024 * KiB

UPDATER = r"""
import hashlib, io, sys, time, zipfile
sys.path.insert(0, {collections!r})
from ansible_collections.airgap.hangar.plugins.module_utils._archive import writer as writer_module
from ansible_collections.airgap.hangar.plugins.module_utils._archive.index import ArchiveEntry, ArchivePlatformImage
from ansible_collections.airgap.hangar.plugins.module_utils._archive.writer import ArchiveWriter
from ansible_collections.airgap.hangar.plugins.module_utils._image.digest import sha256_digest
from ansible_collections.airgap.hangar.plugins.module_utils._image.manifest import Manifest
from ansible_collections.airgap.hangar.plugins.module_utils._image.platform import Platform

PAUSE = sys.argv[1] if len(sys.argv) > 1 else ""

def mark(name):
    print(name, flush=True)
    if name == PAUSE:
        sys.stdin.readline()  # the parent reads the archive meanwhile

class SlowReader:
    def __init__(self, data):
        self.data = io.BytesIO(data)
    def read(self, size):
        time.sleep(0.002)
        return self.data.read(min(size, 64 * 1024))

class SlowFile:
    # The central directory and end record, written 128 bytes at a time.
    def __init__(self, fp):
        self.fp = fp
    def write(self, data):
        for start in range(0, len(data), 128):
            self.fp.write(data[start:start + 128])
            self.fp.flush()
            time.sleep(0.001)
        return len(data)
    def __getattr__(self, name):
        return getattr(self.fp, name)

original_end_record = zipfile.ZipFile._write_end_record
def slow_end_record(self):
    mark("end-record")
    fp, self.fp = self.fp, SlowFile(self.fp)
    try:
        original_end_record(self)
    finally:
        self.fp = fp

original_finish = writer_module.finish_update
def finish(path):
    mark("synced")
    time.sleep(0.05)
    original_finish(path)

original_write_entry = ArchiveWriter._write_entry
def slow_write_entry(self, name, chunks, size):
    # The new index.json, 256 bytes at a time: the commit phase before the end record lasts too.
    if name == "index.json":
        data = b"".join(chunks)
        def pieces():
            for start in range(0, len(data), 256):
                time.sleep(0.0005)
                yield data[start:start + 256]
        chunks = pieces()
    return original_write_entry(self, name, chunks, size)

zipfile.ZipFile._write_end_record = slow_end_record
writer_module.finish_update = finish
ArchiveWriter._write_entry = slow_write_entry

layers = [hashlib.shake_256(b"layer %d" % n).digest(512 * 1024) for n in range(4)]
config = b'{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}'
document = ('{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":'
            '{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d}},"layers":[%s]}}' % (
    sha256_digest(config), len(config), ",".join(
        '{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}}'
        % (sha256_digest(layer), len(layer)) for layer in layers)))
manifest = Manifest.from_bytes(document.encode())
with ArchiveWriter({path!r}, timeout=60) as writer:
    mark("locked")
    time.sleep(0.05)
    mark("appending")
    for data in layers + [config]:
        writer.add_blob(sha256_digest(data), len(data), SlowReader(data))
    writer.add_manifest(manifest)
    writer.put_entry(ArchiveEntry("reg.example.com/new/app", "1", [ArchivePlatformImage.for_manifest(
        manifest, Platform(os="linux", architecture="amd64"))], manifest.digest, manifest.media_type))
    mark("committing")
    writer.commit()
mark("done")
"""
PHASES = ["locked", "appending", "committing", "end-record", "synced"]
NEW_SOURCE = "reg.example.com/new/app"


def collections_path():
    return next(entry for entry in sys.path if os.path.isdir(os.path.join(entry, "ansible_collections", "airgap")))


def beside(path):
    """Files the collection left beside the archive."""
    return sorted(name for name in os.listdir(os.path.dirname(path)) if name != os.path.basename(path))


def sources(path):
    with ArchiveReader(path) as reader:
        reader.verify(check_content=True)
        return [entry.source for entry in reader.index.entries]


def start_updater(path, pause=""):
    script = UPDATER.format(collections=collections_path(), path=str(path))
    return subprocess.Popen([sys.executable, "-u", "-c", script, pause], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_until(process, marker):
    seen = []
    while True:
        line = process.stdout.readline().strip()
        assert line, "the updater ended before %s (saw %s): %s" % (marker, seen, process.stderr.read())
        seen.append(line)
        if line == marker:
            return seen


@pytest.fixture
def base_archive(tmp_path):
    """An archive of 60 small images (a central directory of some size), the previous content."""
    path = tmp_path / "usb" / "images.zip"
    path.parent.mkdir()
    factory = ImageFactory(seed="in-place")
    with ArchiveWriter(path) as writer:
        for number in range(60):
            store_image(writer, "reg.example.com/base/app-%d" % number, "1",
                        factory.oci_image(layer_sizes=(2 * KiB,)))
        writer.commit()
    return path


def test_kill_9_in_every_phase_leaves_the_previous_content_and_a_rerun_completes(base_archive):
    path = str(base_archive)
    previous = base_archive.read_bytes()
    previous_sources = sources(path)
    rng = random.Random(SEED)
    points = [(phase, rng.uniform(0, 0.015)) for phase in PHASES for _repeat in range(2)]
    rng.shuffle(points)
    landed = dict.fromkeys(PHASES, 0)
    log = []
    for marker, delay in points:
        process = start_updater(path)
        try:
            read_until(process, marker)
            if delay:
                subprocess.run(["sleep", "%.4f" % delay], check=True)  # a seeded moment after the marker
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            rest = [line.strip() for line in process.stdout.read().splitlines() if line.strip()]
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            process.stdout.close()
            process.stderr.close()
            process.stdin.close()
        phase = rest[-1] if rest else marker
        if phase == "done":
            phase = "synced"  # it finished: counted with the last phase, whose end state is the new archive
        landed[phase] += 1
        log.append("kill %.4f s after %-10s landed in %s" % (delay, marker, phase))

        # A reader, right after the kill, sees the previous content (the new end record, even if complete,
        # is not committed until the journal is gone).
        seen = sources(path)
        assert seen == previous_sources or (phase == "synced" and seen == previous_sources + [NEW_SOURCE]), \
            (log[-1], seen)
        with open(path, "rb") as archive:
            assert archive.read(len(previous)) == previous, "committed bytes changed: %s" % log[-1]
        # The next writer recovers: cut back to the previous archive, or kept when the update was complete.
        with ArchiveWriter(path) as writer:
            recovered = [entry.source for entry in writer.index.entries]
        assert recovered in (previous_sources, previous_sources + [NEW_SOURCE]), log[-1]
        assert recovered == previous_sources or phase == "synced", log[-1]
        assert beside(path) == [], log[-1]
        with open(path, "rb") as archive:
            assert end_record_at(archive.fileno(), os.fstat(archive.fileno()).st_size)
        if recovered == previous_sources:
            assert base_archive.read_bytes() == previous, log[-1]
        check_archive_layout(path)
        base_archive.write_bytes(previous)

    print("\n".join(["kill points (seed %d):" % SEED] + log))
    assert all(landed[phase] for phase in PHASES), "phases without a kill: %s\n%s" % (landed, "\n".join(log))

    finished = start_updater(path)
    out, err = finished.communicate(timeout=120)
    assert finished.returncode == 0, err
    assert out.split()[-1] == "done"
    assert sources(path) == previous_sources + [NEW_SOURCE]
    assert beside(path) == []
    check_archive_layout(path)


@pytest.mark.parametrize("pause", ["appending", "end-record", "synced"])
def test_a_reader_during_an_update_sees_the_last_committed_archive(base_archive, pause):
    path = str(base_archive)
    previous_sources = sources(path)
    process = start_updater(path, pause)
    try:
        read_until(process, pause)
        # The writer is paused mid-update: a reader opens, lists and streams every blob of the previous archive.
        with ArchiveReader(path) as reader:
            reader.verify(check_content=True)
            assert [entry.source for entry in reader.index.entries] == previous_sources
            process.stdin.write("go\n")
            process.stdin.flush()
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            # The update committed while the reader was open: it still reads what it opened.
            reader.verify(check_content=True)
        assert out.split()[-1] == "done"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert sources(path) == previous_sources + [NEW_SOURCE]


def test_a_killed_update_and_journal_are_cleaned_by_the_next_writer_not_by_check_mode(base_archive):
    path = str(base_archive)
    previous = base_archive.read_bytes()
    process = start_updater(path, "committing")
    try:
        read_until(process, "committing")
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        process.stdin.close()
        process.stdout.close()
        process.stderr.close()
    grown = base_archive.read_bytes()
    assert len(grown) > len(previous) and os.path.exists(journal_path(path))
    with ArchiveWriter(path, check_mode=True) as writer:
        assert [entry.source for entry in writer.index.entries] == sources(path)
        assert not writer.commit()
    assert base_archive.read_bytes() == grown and os.path.exists(journal_path(path))
    with ArchiveWriter(path) as writer:
        assert writer.recovered_bytes == len(grown) - len(previous)
    assert base_archive.read_bytes() == previous and beside(path) == []


def test_compaction_drops_dead_bytes_and_is_idempotent(base_archive):
    path = str(base_archive)
    factory = ImageFactory(seed="compact")
    with ArchiveWriter(path) as writer:
        for number in range(30):
            writer.index.remove("reg.example.com/base/app-%d" % number, "1")
        store_image(writer, "reg.example.com/base/app-0", "1", factory.oci_image(layer_sizes=(64 * KiB,)))
        assert writer.commit()
    with ArchiveReader(path) as reader:
        dead = reader.dead_bytes()
        kept = [entry.to_dict() for entry in reader.index.entries]
    assert dead > 0
    size = os.path.getsize(path)
    with ArchiveWriter(path, compact=True) as writer:
        assert writer.commit()
    assert os.path.getsize(path) <= size - dead + 64 * KiB
    with ArchiveReader(path) as reader:
        reader.verify(check_content=True)
        assert reader.dead_bytes() == 0
        assert [entry.to_dict() for entry in reader.index.entries] == kept
    check_archive_layout(path)
    data = base_archive.read_bytes()
    with ArchiveWriter(path, compact=True) as writer:
        assert not writer.commit()
    assert base_archive.read_bytes() == data and beside(path) == []
