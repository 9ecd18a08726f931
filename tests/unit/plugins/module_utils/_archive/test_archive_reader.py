"""ArchiveReader on archives as the Hangar CLI (Go) writes them, and on hostile or broken ones."""

import json
import os
import re
import threading
import zipfile

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._archive import reader as archive_reader
from ansible_collections.airgap.hangar.plugins.module_utils._archive.reader import ArchiveReader
from ansible_collections.airgap.hangar.plugins.module_utils._errors import ArchiveError, DigestMismatchError
from tests.support.archive_checks import check_archive_layout
from tests.support.go_zip import (
    blob_entry,
    hangar_cli_entries,
    tampered,
    write_go_zip,
    write_hangar_cli_archive,
)
from tests.support.image_factory import ImageFactory, RandomBlob

KiB = 1024
MiB = 1024 * KiB


@pytest.fixture(scope="module")
def images():
    factory = ImageFactory(seed="archive-reader")
    return [("docker.io/library/nginx", "1.25", factory.oci_index(platforms=("linux/amd64", "linux/arm64"))),
            ("reg.example.com/team/app", "v1", factory.docker_image(layer_sizes=(4 * KiB,)))]


def cli_input(images):
    blobs = {}
    for _source, _tag, image in images:
        blobs.update(image.blobs)
    return [(source, tag, image.manifests) for source, tag, image in images], blobs


@pytest.fixture
def cli_entries(images):
    return hangar_cli_entries(*cli_input(images))[0]


def a_layer(images):
    image = images[1][2]
    return next(layer["digest"] for layer in image.top.layers)


class TestHangarCliArchives:
    @pytest.mark.parametrize("directory_entries", [False, True], ids=["no-dirs", "dirs"])
    @pytest.mark.parametrize("zip64", [False, True], ids=["zip32", "zip64"])
    def test_reads(self, tmp_path, images, directory_entries, zip64):
        path = tmp_path / "hangar.zip"
        write_hangar_cli_archive(path, *cli_input(images), directory_entries=directory_entries, zip64=zip64)
        with zipfile.ZipFile(path) as archive:
            files = [info for info in archive.infolist() if not info.filename.endswith("/")]
            assert all(info.flag_bits & 0x8 for info in files)  # data descriptors, as Go writes them
        assert (b"PK\x06\x06" in path.read_bytes()[-200:]) == zip64
        check_archive_layout(path, strict=not directory_entries, folder_directories=False)

        with ArchiveReader(path) as reader:
            reader.verify(check_content=True)
            index_image = images[0][2]
            entry = reader.index.find("docker.io/library/nginx", "1.25")
            assert entry.index_digest is None
            assert entry.manifest_digests == [child["digest"] for child in index_image.top.children]
            assert entry.arch_list == ["amd64", "arm64", "unknown"]
            assert reader.index.find("reg.example.com/team/app", "v1").images[0].digest == images[1][2].digest
            for manifest in index_image.children:
                assert reader.read_blob(manifest.digest) == manifest.data
                assert reader.has_manifest_folder(manifest.digest)
            for digest, data in index_image.blobs.items():
                assert reader.blob_size(digest) == len(data)
                with reader.open_blob(digest, len(data)) as stream:
                    assert b"".join(stream) == data
                    assert stream.verified
            assert not reader.has_blob(index_image.top.digest)  # the Hangar CLI does not keep the top index

    def test_duplicate_entries_after_hangar_sync(self, tmp_path, images):
        entries, index = hangar_cli_entries(*cli_input(images))
        index["list"].append(dict(index["list"][1]))
        entries[-1] = ("index.json", json.dumps(index, separators=(",", ":")).encode())
        write_go_zip(tmp_path / "synced.zip", entries)
        with ArchiveReader(tmp_path / "synced.zip") as reader:
            assert [entry.source for entry in reader.index.entries] == [source for source, _tag, _image in images]


class TestNotAnArchive:
    def test_no_index(self, tmp_path, cli_entries):
        path = tmp_path / "blobs.zip"
        write_go_zip(path, [entry for entry in cli_entries if entry[0] != "index.json"])
        with pytest.raises(ArchiveError, match=re.escape("%s is not a Hangar archive: no index.json" % path)):
            ArchiveReader(path)

    @pytest.mark.parametrize("version", ["v1.1.0", ""])
    def test_old_or_empty_version(self, tmp_path, images, version):
        path = tmp_path / "old.zip"
        write_hangar_cli_archive(path, *cli_input(images), version=version)
        with pytest.raises(ArchiveError, match=re.escape("Error reading archive %s: index.json" % path)):
            ArchiveReader(path)

    def test_newer_version(self, tmp_path, images):
        path = tmp_path / "new.zip"
        write_hangar_cli_archive(path, *cli_input(images), version="v1.3.0")
        with ArchiveReader(path) as reader:
            assert reader.index.version == "v1.3.0"

    @pytest.mark.parametrize("content", ["random", "empty", "truncated", "directory", "missing"])
    def test_unreadable(self, tmp_path, cli_entries, content):
        path = tmp_path / "broken.zip"
        if content == "random":
            path.write_bytes(os.urandom(4096))
        elif content == "empty":
            path.write_bytes(b"")
        elif content == "truncated":
            write_go_zip(path, cli_entries)
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])
        elif content == "directory":
            path.mkdir()
        with pytest.raises(ArchiveError, match=re.escape(str(path))):
            ArchiveReader(path)

    def test_compressed_entry(self, tmp_path, cli_entries, images):
        path = tmp_path / "deflated.zip"
        layer = a_layer(images)
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in cli_entries:
                method = zipfile.ZIP_DEFLATED if name == blob_entry(layer) else zipfile.ZIP_STORED
                archive.writestr(name, data, compress_type=method)
        with ArchiveReader(path) as reader, pytest.raises(ArchiveError, match="is compressed"):
            reader.read_blob(layer)


class TestHostileArchives:
    def test_blob_not_matching_its_digest(self, tmp_path, cli_entries, images):
        layer = a_layer(images)
        manifest = images[1][2].top
        corrupt = dict(cli_entries)[blob_entry(layer)][::-1]
        entries = tampered(cli_entries, blob_entry(layer), corrupt)
        entries = tampered(entries, blob_entry(manifest.digest), manifest.data.replace(b"2", b"3", 1))
        write_go_zip(tmp_path / "corrupt.zip", entries)
        with ArchiveReader(tmp_path / "corrupt.zip") as reader:
            reader.verify()  # every entry is there
            with reader.open_blob(layer, len(corrupt)) as stream, pytest.raises(DigestMismatchError):
                stream.read_all_verified()
            with pytest.raises(DigestMismatchError):
                reader.read_blob(manifest.digest)
            with pytest.raises(DigestMismatchError):
                reader.verify(check_content=True)

    def test_declared_size_not_the_expected_one(self, tmp_path, cli_entries, images):
        layer = a_layer(images)
        write_go_zip(tmp_path / "a.zip", cli_entries)
        with ArchiveReader(tmp_path / "a.zip") as reader:
            size = reader.blob_size(layer)
            with pytest.raises(ArchiveError, match="holds %d bytes where %d were expected" % (size, size + 1)):
                reader.open_blob(layer, size + 1).__enter__()
            with pytest.raises(ArchiveError, match="more than the 100 allowed"):
                reader.read_blob(layer, max_size=100)

    def test_huge_declared_size_is_never_read(self, tmp_path, cli_entries, images, monkeypatch):
        layer = a_layer(images)
        huge = 1 << 40
        write_go_zip(tmp_path / "bomb.zip", cli_entries, declared_sizes={blob_entry(layer): huge})
        requested = []
        real_pread = os.pread

        def counting_pread(fd, size, offset):
            requested.append(size)
            return real_pread(fd, size, offset)

        with ArchiveReader(tmp_path / "bomb.zip") as reader:
            assert reader.blob_size(layer) == huge
            monkeypatch.setattr(archive_reader.os, "pread", counting_pread)
            with pytest.raises(ArchiveError, match="where 4096 were expected"):
                reader.open_blob(layer, 4096).__enter__()
            with pytest.raises(ArchiveError, match="ends after the end of the file"):
                reader.open_blob(layer).__enter__()
            with pytest.raises(ArchiveError, match="allowed"):
                reader.read_blob(layer)
        assert max(requested) < 256  # only the local header and its name were read

    def test_unsafe_names_are_ignored_and_cannot_stand_in_for_a_blob_or_the_index(
            self, tmp_path, cli_entries, images):
        """An entry whose name only normalizes to a blob or to index.json must never be read as one: the
        reader matches names exactly (it never extracts, so what can go wrong is a hostile entry shadowing
        a real one)."""
        layer = a_layer(images)
        genuine = dict(cli_entries)[blob_entry(layer)]
        name = blob_entry(layer)
        hex64 = layer[len("sha256:"):]
        shadows = [("./" + name, b"evil"), ("/" + name, b"evil"), ("share/sha256/../sha256/" + hex64, b"evil"),
                   ("x/../" + name, b"evil"), (name.replace("/", "\\"), b"evil"), ("share//sha256/" + hex64, b"evil"),
                   ("./index.json", b'{"version":"v1.2.0","list":[]}'), ("a/../index.json", b"{}"),
                   ("../evil", b"x"), (hex64 + "/../../evil3", b"x")]
        for order in ("before", "after"):
            entries = shadows + cli_entries if order == "before" else cli_entries + shadows
            write_go_zip(tmp_path / ("hostile-%s.zip" % order), entries)
            with ArchiveReader(tmp_path / ("hostile-%s.zip" % order)) as reader:
                reader.verify(check_content=True)
                assert reader.blob_digests == reader.index.all_blob_digests()
                assert reader.read_blob(layer) == genuine, order
                assert len(reader.index.entries) == len(images), order

    def test_missing_entries_are_listed(self, tmp_path, cli_entries, images):
        layer = a_layer(images)
        manifest = images[1][2].top
        folder_index = manifest.digest[len("sha256:"):] + "/index.json"
        write_go_zip(tmp_path / "holes.zip", [e for e in cli_entries if e[0] not in (blob_entry(layer), folder_index)])
        with ArchiveReader(tmp_path / "holes.zip") as reader:
            with pytest.raises(ArchiveError, match="2 entries named by index.json are missing") as failure:
                reader.verify()
            assert blob_entry(layer) in str(failure.value) and folder_index in str(failure.value)
            with pytest.raises(ArchiveError, match="is missing"):
                reader.read_blob(layer)


def test_streams_blobs_from_several_threads_at_once(tmp_path, cli_entries):
    blobs = [b"".join(RandomBlob("parallel-%d" % number, 3 * MiB + number).chunks()) for number in range(4)]
    digests = [RandomBlob("parallel-%d" % number, 3 * MiB + number).digest for number in range(4)]
    write_go_zip(tmp_path / "big.zip", [(blob_entry(d), data) for d, data in zip(digests, blobs)] + cli_entries)
    barrier = threading.Barrier(len(blobs), timeout=10)
    results, errors = {}, []

    def stream(number):
        try:
            with reader.open_blob(digests[number], len(blobs[number])) as source:
                parts = [source.read(256 * KiB)]
                barrier.wait()  # every stream is open and part-read at the same moment
                parts.extend(iter(lambda: source.read(256 * KiB), b""))
                results[number] = b"".join(parts)
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)

    with ArchiveReader(tmp_path / "big.zip") as reader:
        threads = [threading.Thread(target=stream, args=(number,)) for number in range(len(blobs))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    assert [results[number] for number in range(len(blobs))] == blobs
