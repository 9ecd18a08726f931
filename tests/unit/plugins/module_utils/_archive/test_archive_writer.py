"""ArchiveWriter: new archives, updates in place without rewriting, atomicity, ZIP64 and threads."""

import fcntl
import io
import json
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import zipfile

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._archive.index import ArchiveEntry, ArchivePlatformImage
from ansible_collections.airgap.hangar.plugins.module_utils._archive.reader import ArchiveReader
from ansible_collections.airgap.hangar.plugins.module_utils._archive.writer import ArchiveWriter
from ansible_collections.airgap.hangar.plugins.module_utils._errors import ArchiveError, DigestMismatchError
from ansible_collections.airgap.hangar.plugins.module_utils._image.digest import VerifyingReader, sha256_digest
from ansible_collections.airgap.hangar.plugins.module_utils._image.manifest import Manifest
from ansible_collections.airgap.hangar.plugins.module_utils._image.media_types import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
)
from tests.support.archive_checks import check_archive_layout, entry_names, raw_central_directory, store_image
from tests.support.go_zip import write_hangar_cli_archive
from tests.support.image_factory import LINUX_AMD64, ImageFactory, TestImage

KiB = 1024
MiB = 1024 * KiB
ZIP64_EXTRA = 0x0001


@pytest.fixture
def factory(request):
    return ImageFactory(seed=request.node.name)


def write_archive(path, images, reuse=True):
    """images: [(source, tag, image)]; returns commit()'s answer."""
    with ArchiveWriter(path, reuse=reuse) as writer:
        for source, tag, image in images:
            store_image(writer, source, tag, image)
        return writer.commit()


def raw_image(layers):
    """An OCI image whose layers are the given bytes (any bytes will do for an archive)."""
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    document = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": sha256_digest(layer), "size": len(layer)}
                           for layer in layers]}
    blobs = {sha256_digest(data): data for data in [config, *layers]}
    return TestImage([Manifest.from_bytes(json.dumps(document).encode())], blobs, platforms=[LINUX_AMD64])


def temp_files(directory):
    return sorted(name for name in os.listdir(directory) if name.endswith((".hangar-tmp", ".hangar-spool")))


def entry_bytes(path):
    """name -> (header offset, the entry's bytes from its local header to the end of its data)."""
    with zipfile.ZipFile(path) as archive:
        infos = sorted(archive.infolist(), key=lambda info: info.header_offset)
        directory_start = archive.start_dir
    with open(path, "rb") as source:
        data = source.read()
    ends = [info.header_offset for info in infos[1:]] + [directory_start]
    return {info.filename: (info.header_offset, data[info.header_offset:end]) for info, end in zip(infos, ends)}


class TestNewArchive:
    def test_layout(self, tmp_path, factory):
        path = tmp_path / "images.zip"
        listed = factory.oci_index(platforms=("linux/amd64", "linux/arm64"), attestations=True)
        single = factory.docker_image(platform="linux/arm/v7")
        windows = factory.windows_list()
        assert write_archive(path, [("docker.io/library/nginx", "1.25", listed),
                                    ("reg.example.com/team/app/tool", "v1", single),
                                    ("mcr.microsoft.com/windows/app", "ltsc", windows)])
        index = check_archive_layout(path)
        assert temp_files(tmp_path) == []

        expected = {"index.json"}
        for image in (listed, single, windows):
            for manifest in image.manifests:
                expected.add("share/sha256/" + manifest.digest[7:])
            for manifest in image.manifests if not image.top.is_index else image.children:
                expected |= {manifest.digest[7:] + "/", manifest.digest[7:] + "/index.json",
                             manifest.digest[7:] + "/oci-layout"}
            expected |= {"share/sha256/" + digest[7:] for digest in image.blobs}
        assert entry_names(path) == sorted(expected)

        entries = {entry["source"]: entry for entry in index["list"]}
        assert entries["docker.io/library/nginx"]["indexDigest"] == listed.digest
        assert entries["docker.io/library/nginx"]["archList"] == ["amd64", "arm64", "unknown"]
        assert entries["reg.example.com/team/app/tool"]["indexDigest"] == single.digest
        assert entries["reg.example.com/team/app/tool"]["images"][0]["variant"] == "v7"
        assert entries["mcr.microsoft.com/windows/app"]["images"][1]["osVersion"]
        with ArchiveReader(path) as reader:
            reader.verify(check_content=True)
            assert reader.read_blob(listed.digest) == listed.data

    def test_entries_are_stored_without_data_descriptors(self, tmp_path, factory):
        path = tmp_path / "a.zip"
        write_archive(path, [("a/b", "1", factory.oci_image())])
        records, zip64 = raw_central_directory(path)
        assert not zip64
        assert {record["method"] for record in records} == {0}
        assert not any(record["flags"] & 0x8 for record in records)

    def test_empty_commit_of_nothing_writes_nothing(self, tmp_path):
        with ArchiveWriter(tmp_path / "none.zip") as writer:
            assert not writer.commit()
        assert os.listdir(tmp_path) == []

    def test_mode_follows_the_umask(self, tmp_path, factory):
        old = os.umask(0o027)
        try:
            write_archive(tmp_path / "a.zip", [("a/b", "1", factory.oci_image())])
        finally:
            os.umask(old)
        assert stat.S_IMODE(os.stat(tmp_path / "a.zip").st_mode) == 0o640


class TestUpdate:
    def test_adds_an_image_without_rewriting_untouched_bytes(self, tmp_path, factory):
        path = tmp_path / "a.zip"
        write_archive(path, [("a/first", "1", factory.oci_index(attestations=False))])
        before = entry_bytes(path)
        assert write_archive(path, [("a/second", "1", factory.docker_image())])
        after = entry_bytes(path)
        for name, (offset, data) in before.items():
            if name != "index.json":
                assert after[name] == (offset, data), name
        # The old index.json was last: the new entries start where it started.
        assert min(offset for name, (offset, _data) in after.items() if name not in before) == before["index.json"][0]
        index = check_archive_layout(path)
        assert [entry["source"] for entry in index["list"]] == ["a/first", "a/second"]

    def test_reuses_blobs_already_stored(self, tmp_path, factory):
        path = tmp_path / "a.zip"
        base = factory.base_layers()
        first = factory.oci_image(base=base)
        write_archive(path, [("a/first", "1", first)])
        second = factory.oci_image(base=base)
        with ArchiveWriter(path) as writer:
            assert all(writer.has_blob(layer.digest) for layer in base)
            assert not writer.add_blob(base[0].digest, base[0].size, io.BytesIO(base[0].data))
            store_image(writer, "a/second", "1", second)
            assert writer.commit()
        check_archive_layout(path)

    @pytest.mark.parametrize("directory_entries", [False, True], ids=["no-dirs", "dirs"])
    def test_updates_a_hangar_cli_archive(self, tmp_path, factory, directory_entries):
        path = tmp_path / "hangar.zip"
        cli_image = factory.oci_index(attestations=True)
        write_hangar_cli_archive(path, [("docker.io/library/cli", "1", cli_image.manifests)], cli_image.blobs,
                                 directory_entries=directory_entries)
        before = entry_bytes(path)
        assert write_archive(path, [("docker.io/library/ours", "2", factory.docker_image())])
        after = entry_bytes(path)
        assert all(after[name] == value for name, value in before.items() if name != "index.json")
        index = check_archive_layout(path, strict=not directory_entries)
        assert [entry.get("indexDigest") for entry in index["list"]][0] is None
        with ArchiveReader(path) as reader:
            reader.verify(check_content=True)

    def test_no_change_leaves_the_file_untouched(self, tmp_path, factory):
        path = tmp_path / "a.zip"
        image = factory.oci_index()
        write_archive(path, [("a/b", "1", image)])
        before, data = os.stat(path), path.read_bytes()
        assert not write_archive(path, [("a/b", "1", image)])
        after = os.stat(path)
        assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)
        assert path.read_bytes() == data
        assert temp_files(tmp_path) == []

    def test_replacing_an_entry_drops_what_nothing_references(self, tmp_path, factory):
        path = tmp_path / "a.zip"
        old, new, kept = factory.oci_index(), factory.oci_index(), factory.docker_image()
        write_archive(path, [("a/b", "1", old), ("a/kept", "1", kept)])
        assert write_archive(path, [("a/b", "1", new)])
        index = check_archive_layout(path)  # strict: no blob or folder left that no entry references
        assert [entry["indexDigest"] for entry in index["list"]] == [new.digest, kept.digest]
        names = entry_names(path)
        assert not any(manifest.digest[7:] in name for manifest in old.manifests for name in names)

    def test_removing_an_entry(self, tmp_path, factory):
        path = tmp_path / "a.zip"
        write_archive(path, [("a/b", "1", factory.oci_image()), ("a/c", "1", factory.oci_image())])
        with ArchiveWriter(path) as writer:
            assert writer.index.remove("a/b", "1")
            assert writer.commit()
        assert [entry["source"] for entry in check_archive_layout(path)["list"]] == ["a/c"]

    def test_force_starts_a_new_archive(self, tmp_path, factory):
        path = tmp_path / "a.zip"
        write_archive(path, [("a/old", "1", factory.oci_index())])
        with ArchiveWriter(path, reuse=False) as writer:
            assert writer.index.entries == []
            assert not writer.commit()  # nothing given: the old archive stays
        assert write_archive(path, [("a/new", "1", factory.oci_image())], reuse=False)
        assert [entry["source"] for entry in check_archive_layout(path)["list"]] == ["a/new"]

    def test_keeps_the_mode_of_the_archive(self, tmp_path, factory):
        path = tmp_path / "a.zip"
        write_archive(path, [("a/b", "1", factory.oci_image())])
        os.chmod(path, 0o604)
        write_archive(path, [("a/c", "1", factory.oci_image())])
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o604


class TestSafety:
    def test_a_symlink_stays_and_its_target_is_updated(self, tmp_path, factory):
        target = tmp_path / "store" / "a.zip"
        target.parent.mkdir()
        write_archive(target, [("a/b", "1", factory.oci_image())])
        link = tmp_path / "link.zip"
        link.symlink_to(target)
        assert write_archive(link, [("a/c", "1", factory.oci_image())])
        assert link.is_symlink()
        assert [entry["source"] for entry in check_archive_layout(target)["list"]] == ["a/b", "a/c"]

    def test_a_missing_directory_or_a_directory_path(self, tmp_path):
        with pytest.raises(ArchiveError, match="its directory does not exist"):
            ArchiveWriter(tmp_path / "nowhere" / "a.zip")
        with pytest.raises(ArchiveError, match="it is a directory"):
            ArchiveWriter(tmp_path)

    @pytest.mark.parametrize("content", [b"precious data, not a zip", None], ids=["not-zip", "zip-without-index"])
    def test_refuses_to_reuse_what_is_not_an_archive(self, tmp_path, factory, content):
        path = tmp_path / "a.zip"
        if content is None:
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr("notes.txt", "mine")
        else:
            path.write_bytes(content)
        data = path.read_bytes()
        with pytest.raises(ArchiveError, match="not a readable Hangar archive.*set force: true"):
            ArchiveWriter(path)
        assert path.read_bytes() == data
        assert write_archive(path, [("a/b", "1", factory.oci_image())], reuse=False)
        check_archive_layout(path)

    def test_exception_or_no_commit_leaves_the_archive_untouched(self, tmp_path, factory):
        path = tmp_path / "a.zip"
        write_archive(path, [("a/b", "1", factory.oci_image())])
        data = path.read_bytes()
        with pytest.raises(RuntimeError), ArchiveWriter(path) as writer:
            store_image(writer, "a/c", "1", factory.oci_image())
            raise RuntimeError("interrupted")
        with ArchiveWriter(path) as writer:
            store_image(writer, "a/c", "1", factory.oci_image())
        with ArchiveWriter(path) as writer:
            store_image(writer, "a/c", "1", factory.oci_image())
            writer.abort()
            writer.abort()
            with pytest.raises(ArchiveError, match="closed"):
                writer.commit()
        assert path.read_bytes() == data
        assert temp_files(tmp_path) == []

    def test_digest_mismatch_leaves_no_entry(self, tmp_path, factory):
        path = tmp_path / "a.zip"
        image = factory.oci_image()
        good = b"good bytes" * 1000
        wrong = bytearray(good)
        wrong[5] ^= 1
        with ArchiveWriter(path) as writer:
            store_image(writer, "a/b", "1", image)
            with pytest.raises(DigestMismatchError):
                writer.add_blob(sha256_digest(good), len(good), io.BytesIO(bytes(wrong)))
            with pytest.raises(DigestMismatchError):
                writer.add_blob(sha256_digest(good), len(good), io.BytesIO(good + b"more"))
            with pytest.raises(DigestMismatchError):  # a source that verifies itself but lies about the size
                writer.add_blob(sha256_digest(good), len(good) - 1,
                                VerifyingReader(io.BytesIO(good), sha256_digest(good)))
            assert not writer.has_blob(sha256_digest(good))
            assert writer.commit()
        check_archive_layout(path)
        assert "share/sha256/" + sha256_digest(good)[7:] not in entry_names(path)

    def test_mismatch_then_a_good_copy(self, tmp_path):
        path = tmp_path / "a.zip"
        data = os.urandom(3 * MiB)
        with ArchiveWriter(path) as writer:
            with pytest.raises(DigestMismatchError):
                writer.add_blob(sha256_digest(data), len(data), io.BytesIO(data[:-1] + b"x"))
            assert writer.add_blob(sha256_digest(data), None, iter([data[:MiB], b"", data[MiB:]]))
            store_image(writer, "a/b", "1", raw_image([data]))
            assert writer.commit()
        with ArchiveReader(path) as reader:
            reader.verify(check_content=True)
            assert reader.read_blob(sha256_digest(data)) == data
        records = {record["name"]: record for record in raw_central_directory(path)[0]}
        blob = records["share/sha256/" + sha256_digest(data)[7:]]
        assert ZIP64_EXTRA in blob["local_extra_ids"]  # size unknown up front: a ZIP64 local header

    def test_index_must_not_name_missing_blobs(self, tmp_path, factory):
        path = tmp_path / "a.zip"
        image = factory.oci_image()
        record = ArchivePlatformImage.for_manifest(image.top, image.platforms[0])
        with ArchiveWriter(path) as writer:
            with pytest.raises(ArchiveError, match="blobs not stored"):
                writer.put_entry(ArchiveEntry("a/b", "1", [record]))
            writer.index.put(ArchiveEntry("a/b", "1", [record]))
            with pytest.raises(ArchiveError, match="a/b:1 name blobs that are not stored"):
                writer.commit()
        assert not path.exists()
        assert temp_files(tmp_path) == []

    def test_stale_temporary_files_are_removed_but_not_live_ones(self, tmp_path, factory):
        path = tmp_path / "a.zip"
        stale = tmp_path / ".a.zip.0123456789ab.hangar-tmp"
        live = tmp_path / ".a.zip.ba9876543210.hangar-tmp"
        others = [tmp_path / ".a.zip.not-ours.hangar-tmp", tmp_path / ".b.zip.0123456789ab.hangar-tmp"]
        for file in [stale, live, *others]:
            file.write_bytes(b"partial")
        with open(live, "rb") as holder:
            fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
            write_archive(path, [("a/b", "1", factory.oci_image())])
        assert not stale.exists()
        assert live.exists() and all(file.exists() for file in others)


class TestThreads:
    def test_blobs_stream_in_parallel(self, tmp_path):
        """Every source is read while the others are: a writer that held all but one waiting
        would leave this barrier broken."""
        blobs = [os.urandom(2 * MiB + number) for number in range(5)]
        barrier = threading.Barrier(len(blobs), timeout=10)
        errors = []

        class MeetingReader(io.BytesIO):
            met = False

            def read(self, size=-1):
                if not self.met:
                    self.met = True
                    barrier.wait()
                return super().read(min(size, 256 * KiB))

        def add(data):
            try:
                writer.add_blob(sha256_digest(data), len(data), MeetingReader(data))
            except Exception as exc:  # reported below, in the test's thread
                errors.append(exc)

        path = tmp_path / "a.zip"
        with ArchiveWriter(path) as writer:
            threads = [threading.Thread(target=add, args=(data,)) for data in blobs]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not errors
            store_image(writer, "a/b", "1", raw_image(blobs))
            assert writer.commit()
        with ArchiveReader(path) as reader:
            reader.verify(check_content=True)
        assert temp_files(tmp_path) == []

    def test_the_same_blob_from_several_threads_is_written_once(self, tmp_path):
        data = os.urandom(MiB)
        results = []
        path = tmp_path / "a.zip"
        with ArchiveWriter(path) as writer:
            threads = [threading.Thread(target=lambda: results.append(
                writer.add_blob(sha256_digest(data), len(data), io.BytesIO(data)))) for _unused in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(results) == [False] * 5 + [True]
            store_image(writer, "a/b", "1", raw_image([data]))
            writer.commit()
        check_archive_layout(path)


class TestZip64:
    def test_large_sizes_offsets_and_counts(self, tmp_path, factory, monkeypatch):
        """ZIP64 logic with zipfile's own thresholds lowered: entries, offsets and counts past them."""
        monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 32 * KiB)
        monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 16)
        path = tmp_path / "big.zip"
        images = [factory.oci_index(layer_sizes=(48 * KiB,)), factory.docker_image(layer_sizes=(40 * KiB,))]
        write_archive(path, [("a/first", "1", images[0])])
        write_archive(path, [("a/second", "1", images[1])])
        records, zip64 = raw_central_directory(path)
        assert zip64 and len(records) > 16
        layer = next(layer["digest"] for layer in images[1].top.layers)
        big = next(record for record in records if record["name"] == "share/sha256/" + layer[7:])
        assert big["size"] == big["compressed_size"] == 0xFFFFFFFF and big["header_offset"] == 0xFFFFFFFF
        assert ZIP64_EXTRA in big["extra_ids"]
        monkeypatch.undo()
        check_archive_layout(path)
        with ArchiveReader(path) as reader:
            reader.verify(check_content=True)
            assert [entry.source for entry in reader.index.entries] == ["a/first", "a/second"]


KILLED_WRITER = r"""
import hashlib, io, os, sys, time
sys.path.insert(0, {collections!r})
from ansible_collections.airgap.hangar.plugins.module_utils._archive import writer as writer_module
from ansible_collections.airgap.hangar.plugins.module_utils._archive.index import ArchiveEntry, ArchivePlatformImage
from ansible_collections.airgap.hangar.plugins.module_utils._archive.writer import ArchiveWriter
from ansible_collections.airgap.hangar.plugins.module_utils._image.digest import sha256_digest
from ansible_collections.airgap.hangar.plugins.module_utils._image.manifest import Manifest
from ansible_collections.airgap.hangar.plugins.module_utils._image.platform import Platform

PAUSE_AT = {pause_at!r}  # a phase to stop in, saying so, until killed; "" runs through


def pause(phase):
    print(phase, flush=True)
    if phase == PAUSE_AT:
        time.sleep(3600)


class SlowReader:
    def __init__(self, data, number):
        self.data = io.BytesIO(data)
        self.half = len(data) // 2
        self.number = number
    def read(self, size):
        time.sleep(0.002)
        if self.number == 2 and self.data.tell() >= self.half:
            pause("mid-blob")
            self.number = None
        return self.data.read(min(size, 64 * 1024))


real_write_entry = ArchiveWriter._write_entry
def write_entry(self, name, chunks, size):
    if name != "index.json":
        return real_write_entry(self, name, chunks, size)
    data = b"".join(chunks)
    def halves():
        yield data[:len(data) // 2]
        pause("mid-index")
        yield data[len(data) // 2:]
    return real_write_entry(self, name, halves(), size)
ArchiveWriter._write_entry = write_entry

real_replace = os.replace
def replace(source, target, *args, **kwargs):
    if os.fspath(target) == os.path.realpath({path!r}):
        pause("before-rename")
        real_replace(source, target, *args, **kwargs)
        pause("after-rename")
        return None
    return real_replace(source, target, *args, **kwargs)
os.replace = replace

layers = [hashlib.shake_256(b"layer %d" % n).digest(1024 * 1024) for n in range(4)]
config = b'{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}'
document = ('{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":'
            '{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d}},"layers":[%s]}}' % (
    sha256_digest(config), len(config), ",".join(
        '{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}}'
        % (sha256_digest(layer), len(layer)) for layer in layers)))
manifest = Manifest.from_bytes(document.encode())
print("start", flush=True)
with ArchiveWriter({path!r}) as writer:
    print("opened", flush=True)
    for number, data in enumerate(layers + [config]):
        writer.add_blob(sha256_digest(data), len(data), SlowReader(data, number))
        print("blob %d" % number, flush=True)
    writer.add_manifest(manifest)
    print("manifest", flush=True)
    writer.put_entry(ArchiveEntry("reg.example.com/killed/app", "1", [ArchivePlatformImage.for_manifest(
        manifest, Platform(os="linux", architecture="amd64"))], manifest.digest, manifest.media_type))
    print("committing", flush=True)
    writer.commit()
print("done", flush=True)
"""
MARKERS = ["start", "opened", "blob 0", "blob 1", "mid-blob", "blob 2", "blob 3", "blob 4", "manifest", "committing",
           "mid-index", "before-rename"]
PAUSED_PHASES = ("mid-blob", "mid-index", "before-rename", "after-rename")
KILL_SEED = 20261201  # fixed: the same kill moments on every run and machine


def collections_path():
    return next(entry for entry in sys.path if os.path.isdir(os.path.join(entry, "ansible_collections", "airgap")))


def kill_writer(script, marker, delay):
    """Run the writer script, SIGKILL it `delay` s after it printed `marker`; the markers it printed."""
    process = subprocess.Popen([sys.executable, "-u", "-c", script], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        while True:
            line = process.stdout.readline().strip()
            assert line, "the writer ended before %s: %s" % (marker, process.stderr.read())
            seen.append(line)
            if line == marker:
                break
        threading.Event().wait(delay)  # a seeded moment after the marker, not a wait for anything
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()
    return seen


def test_killed_at_any_moment_the_previous_archive_stays(tmp_path, factory):
    """kill -9 while a blob is half written, while index.json is half written, just before and just after
    the rename (the writer stops there until killed), then at seeded moments: the archive is always the
    previous one or the complete new one."""
    path = tmp_path / "a.zip"
    write_archive(path, [("reg.example.com/base/app", "1", factory.oci_image(layer_sizes=(2 * MiB, 2 * MiB)))])
    previous = path.read_bytes()
    moments = random.Random(KILL_SEED)
    plan = [(phase, phase, 0.0) for phase in PAUSED_PHASES]
    plan += [("", marker, round(moments.uniform(0, 0.03), 4)) for marker in moments.sample(MARKERS, 6)]
    kills = []
    for pause_at, marker, delay in plan:
        script = KILLED_WRITER.format(collections=collections_path(), path=str(path), pause_at=pause_at)
        seen = kill_writer(script, marker, delay)
        with ArchiveReader(path) as reader:
            reader.verify(check_content=True)
            completed = reader.index.find("reg.example.com/killed/app", "1") is not None
        kills.append((marker, delay, "new archive" if completed else "previous archive", len(temp_files(tmp_path))))
        print("kill -9 after %r + %.4fs: %s, %d temporary file(s)" % kills[-1])
        if completed:  # the kill came after the rename: a complete new archive; start again from the old
            assert seen[-1] == "after-rename" or pause_at == "", kills
            path.write_bytes(previous)
        else:
            assert path.read_bytes() == previous, kills
        assert len(temp_files(tmp_path)) <= 1, kills  # each run removed what the one before left
    landed = {marker: outcome for marker, _delay, outcome, _temps in kills[:len(PAUSED_PHASES)]}
    assert landed == {"mid-blob": "previous archive", "mid-index": "previous archive",
                      "before-rename": "previous archive", "after-rename": "new archive"}, kills
    assert [temps for marker, _delay, _outcome, temps in kills[:3]] == [1, 1, 1], \
        "a kill mid-blob, mid-index or before the rename must leave the new archive's temporary file: %s" % kills

    finished = subprocess.run([sys.executable, "-u", "-c", KILLED_WRITER.format(
        collections=collections_path(), path=str(path), pause_at="")], capture_output=True, text=True, timeout=120,
        check=False)
    assert finished.returncode == 0, finished.stderr
    assert temp_files(tmp_path) == []
    index = check_archive_layout(path)
    assert [entry["source"] for entry in index["list"]] == ["reg.example.com/base/app", "reg.example.com/killed/app"]
