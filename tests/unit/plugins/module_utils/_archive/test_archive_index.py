"""The root index.json model: parsing, validation, writing, and the entry helpers."""

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._archive.index import (
    INDEX_VERSION,
    ArchiveEntry,
    ArchiveIndex,
    ArchivePlatformImage,
    blob_entry_name,
    folder_entry_names,
    folder_index_json,
    parse_entry_name,
    parse_time,
)
from ansible_collections.airgap.hangar.plugins.module_utils._errors import ArchiveError
from ansible_collections.airgap.hangar.plugins.module_utils._image.manifest import Manifest
from ansible_collections.airgap.hangar.plugins.module_utils._image.platform import Platform
from tests.support.archive_checks import check_index_json


def digest(char):
    return "sha256:" + char * 64


AMD64 = ArchivePlatformImage(arch="amd64", os="linux", media_type="application/vnd.oci.image.manifest.v1+json",
                             layers=[digest("a"), digest("b")], config=digest("c"), digest=digest("1"))
ATTESTATION = ArchivePlatformImage(
    arch="unknown", os="unknown", media_type="application/vnd.oci.image.manifest.v1+json", layers=[digest("d")],
    config=digest("e"), digest=digest("2"),
    annotations={"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": digest("1")})
WINDOWS = ArchivePlatformImage(arch="amd64", os="windows", os_version="10.0.20348.2227", os_features=["win32k"],
                               media_type="application/vnd.docker.distribution.manifest.v2+json",
                               layers=[digest("f")], config=digest("0"), digest=digest("3"))


def index_json(**document):
    return json.dumps(dict({"version": "v1.2.0", "time": "2026-03-20T15:04:05+08:00"}, **document)).encode()


# The example of the archive format's spec (ARCHIVE.md, "Example"), its shortened digests made whole by
# repeating their digits: one image with an amd64 manifest and its attestation, nanosecond time.
SPEC_EXAMPLE = (
    '{"list":[{"source":"docker.io/library/nginx","tag":"1.25","archList":["amd64","unknown"],'
    '"osList":["linux","unknown"],"images":['
    '{"arch":"amd64","os":"linux","mediaType":"application/vnd.oci.image.manifest.v1+json",'
    '"layers":["sha256:%(aa)s","sha256:%(bb)s"],"config":"sha256:%(cc)s","digest":"sha256:%(91d7)s"},'
    '{"arch":"unknown","os":"unknown","mediaType":"application/vnd.oci.image.manifest.v1+json",'
    '"layers":["sha256:%(dd)s"],"config":"sha256:%(ee)s","digest":"sha256:%(e5c1)s",'
    '"annotations":{"vnd.docker.reference.digest":"sha256:%(91d7)s",'
    '"vnd.docker.reference.type":"attestation-manifest"}}]}],'
    '"version":"v1.2.0","time":"2026-03-20T15:04:05.123456789+08:00"}'
) % {short: (short * 64)[:64] for short in ("aa", "bb", "cc", "dd", "ee", "91d7", "e5c1")}
# The spec itself, when the workspace's specs are beside the checkout (optional: only to see the copy is true).
ARCHIVE_MD = Path(__file__).resolve().parents[6] / "shared" / "ARCHIVE.md"


def spec_example():
    return SPEC_EXAMPLE.encode()


def test_the_carried_example_is_the_specs():
    if not ARCHIVE_MD.is_file():
        pytest.skip("the archive spec is not at %s: nothing to compare the carried example with" % ARCHIVE_MD)
    text = ARCHIVE_MD.read_text()
    example = re.search(r"## Example.*?```json\n(.*?)```", text, re.S).group(1)
    whole = re.sub(r"sha256:([0-9a-f]+)\.\.", lambda m: "sha256:" + (m.group(1) * 64)[:64], example)
    assert json.loads(whole) == json.loads(SPEC_EXAMPLE)


class TestSpecExample:
    def test_parses(self):
        index = ArchiveIndex.from_json(spec_example())
        entry = index.find("docker.io/library/nginx", "1.25")
        assert entry.arch_list == ["amd64", "unknown"]
        assert entry.os_list == ["linux", "unknown"]
        assert [image.is_attestation for image in entry.images] == [False, True]
        assert entry.images[1].annotations["vnd.docker.reference.digest"] == entry.images[0].digest
        assert index.time == datetime(2026, 3, 20, 15, 4, 5, 123456, timezone(timedelta(hours=8)))

    def test_rewrites_to_the_same_document(self):
        data = spec_example()
        written = ArchiveIndex.from_json(data).to_json()
        check_index_json(written)
        original, rewritten = json.loads(data), json.loads(written)
        assert rewritten["list"] == original["list"]
        assert list(rewritten) == ["list", "version", "time"]


class TestVersion:
    @pytest.mark.parametrize("version", ["v1.2.0", "v1.2.1", "v1.3.0", "v2.0.0", "1.2.0", "v1.2.0+build.5"])
    def test_accepted(self, version):
        assert ArchiveIndex.from_json(index_json(version=version)).version == version

    @pytest.mark.parametrize("version, message", [
        (None, "has no version"),
        ("", "has no version"),
        ("v1.1.0", "older than v1.2.0"),
        ("v1.0.0", "older than v1.2.0"),
        ("v0.9.9", "older than v1.2.0"),
        ("v1.2.0-rc1", "older than v1.2.0"),
        ("latest", "unrecognised version"),
        (120, "unrecognised version"),
    ])
    def test_rejected(self, version, message):
        document = {"time": "2026-03-20T15:04:05Z"}
        if version is not None:
            document["version"] = version
        with pytest.raises(ArchiveError, match=message):
            ArchiveIndex.from_json(json.dumps(document).encode())

    def test_written_as_v1_2_0(self):
        index = ArchiveIndex.from_json(index_json(version="v1.3.0"))
        assert json.loads(index.to_json())["version"] == INDEX_VERSION == "v1.2.0"


class TestMalformed:
    @pytest.mark.parametrize("data, message", [
        (b"not json", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (index_json(list={}), "list must be a list"),
        (index_json(list=["x"]), r"list\[0\] must be a JSON object"),
        (index_json(list=[{"tag": "1", "images": []}]), "has no source"),
        (index_json(list=[{"source": "a/b"}]), "neither a tag nor an indexDigest"),
        (index_json(list=[{"source": "a/b", "tag": 1}]), "tag must be a string"),
        (index_json(list=[{"source": "a/b", "tag": "1", "images": {}}]), "images must be a list"),
        (index_json(list=[{"source": "a/b", "tag": "1", "images": [{"arch": "amd64"}]}]), "has no digest"),
        (index_json(list=[{"source": "a/b", "tag": "1", "images": [{"digest": "sha256:12"}]}]), "invalid digest"),
        (index_json(list=[{"source": "a/b", "tag": "1", "images": [{"digest": "../../etc/passwd"}]}]),
         "invalid digest"),
        (index_json(list=[{"source": "a/b", "tag": "1", "images": [{"digest": digest("1"), "layers": "x"}]}]),
         "layers must be a list of strings"),
        (index_json(list=[{"source": "a/b", "tag": "1", "images": [{"digest": digest("1"), "layers": ["x"]}]}]),
         "invalid digest"),
        (index_json(list=[{"source": "a/b", "tag": "1", "images": [{"digest": digest("1"), "annotations": []}]}]),
         "annotations must be a map of strings"),
        (index_json(list=[{"source": "a/b", "tag": "1", "indexDigest": "md5:00"}]), "invalid digest"),
        (index_json(time="yesterday"), "not an RFC 3339 time"),
        (index_json(time="2026-03-20T15:04:05"), "not an RFC 3339 time"),
        (index_json(time="2026-13-20T15:04:05Z"), "not a valid time"),
    ])
    def test_rejected(self, data, message):
        with pytest.raises(ArchiveError, match=message):
            ArchiveIndex.from_json(data)


class TestWriting:
    def test_round_trip(self):
        index = ArchiveIndex([
            ArchiveEntry("docker.io/library/nginx", "1.25", [AMD64, ATTESTATION], digest("9"),
                         "application/vnd.oci.image.index.v1+json"),
            ArchiveEntry("reg.io/team/app/win", "ltsc", [WINDOWS]),
        ])
        data = index.to_json()
        check_index_json(data)
        again = ArchiveIndex.from_json(data)
        assert again.entries == index.entries
        assert again.time == index.time
        assert again.to_json() == data

    def test_compact_and_empty_values_omitted(self):
        image = ArchivePlatformImage(arch="amd64", os="linux", variant="", os_features=[], layers=[],
                                     media_type="m", config="", digest=digest("1"), annotations={})
        data = ArchiveIndex([ArchiveEntry("a/b", "1", [image])]).to_json()
        assert b" " not in data and b"\n" not in data
        entry = json.loads(data)["list"][0]
        assert entry["images"] == [{"arch": "amd64", "os": "linux", "mediaType": "m", "digest": digest("1")}]
        assert set(entry) == {"source", "tag", "archList", "osList", "images"}

    def test_empty_archive(self):
        document = json.loads(ArchiveIndex().to_json())
        assert set(document) == {"version", "time"}
        assert document["version"] == "v1.2.0"

    def test_time_is_rfc3339_with_offset(self):
        text = json.loads(ArchiveIndex().to_json())["time"]
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$", text)

    def test_windows_fields(self):
        image = json.loads(ArchiveIndex([ArchiveEntry("a/b", "1", [WINDOWS])]).to_json())["list"][0]["images"][0]
        assert image["osVersion"] == "10.0.20348.2227"
        assert image["osFeatures"] == ["win32k"]

    def test_keys_in_go_order(self):
        data = ArchiveIndex([ArchiveEntry("a/b", "1", [ATTESTATION], digest("9"), "t")]).to_json()
        entry = json.loads(data)["list"][0]
        assert list(entry) == ["source", "tag", "archList", "osList", "images", "indexDigest", "indexMediaType"]
        assert list(entry["images"][0]) == ["arch", "os", "mediaType", "layers", "config", "digest", "annotations"]


class TestEntries:
    def test_duplicates_last_wins(self):
        first = {"source": "a/b", "tag": "1", "images": [AMD64.to_dict()]}
        second = {"source": "a/b", "tag": "1", "images": [WINDOWS.to_dict()]}
        other = {"source": "a/c", "tag": "1", "images": [AMD64.to_dict()]}
        index = ArchiveIndex.from_json(index_json(list=[first, other, second]))
        assert [entry.source for entry in index.entries] == ["a/b", "a/c"]
        assert index.find("a/b", "1").images == [WINDOWS]

    def test_untagged_entry_needs_index_digest(self):
        entry = ArchiveEntry("a/b", None, [AMD64], index_digest=AMD64.digest, index_media_type=AMD64.media_type)
        index = ArchiveIndex([entry])
        document = json.loads(index.to_json())["list"][0]
        assert "tag" not in document
        assert document["indexDigest"] == AMD64.digest
        again = ArchiveIndex.from_json(index.to_json())
        assert again.find("a/b", digest=AMD64.digest) == entry
        assert again.find("a/b", "latest") is None
        with pytest.raises(ArchiveError, match="neither a tag nor an indexDigest"):
            index.put(ArchiveEntry("a/b", "", [AMD64]))

    def test_single_manifest_index_digest_is_the_manifest(self):
        entry = ArchiveEntry("a/b", "1", [AMD64], index_digest=AMD64.digest, index_media_type=AMD64.media_type)
        again = ArchiveIndex.from_json(ArchiveIndex([entry]).to_json())
        assert again.find("a/b", "1").index_digest == AMD64.digest
        assert again.all_blob_digests() == AMD64.blob_digests

    def test_derived_lists_include_unknown_for_attestations(self):
        entry = ArchiveEntry("a/b", "1", [AMD64, ATTESTATION, WINDOWS])
        assert entry.arch_list == ["amd64", "unknown"]
        assert entry.os_list == ["linux", "unknown", "windows"]
        assert entry.manifest_digests == [digest("1"), digest("2"), digest("3")]

    def test_put_find_remove(self):
        index = ArchiveIndex()
        assert index.put(ArchiveEntry("a/b", "1", [AMD64]))
        assert not index.put(ArchiveEntry("a/b", "1", (AMD64,)))
        assert index.put(ArchiveEntry("a/c", "1", [AMD64]))
        assert index.put(ArchiveEntry("a/b", "1", [WINDOWS]))
        assert [(entry.source, entry.images) for entry in index.entries] == [("a/b", [WINDOWS]), ("a/c", [AMD64])]
        assert index.find("a/b", "2") is None
        assert index.remove("a/b", "1")
        assert not index.remove("a/b", "1")
        assert [entry.source for entry in index.entries] == ["a/c"]

    def test_blob_digests(self):
        index = ArchiveIndex([ArchiveEntry("a/b", "1", [AMD64, ATTESTATION], digest("9"), "t"),
                              ArchiveEntry("a/c", "1", [WINDOWS])])
        assert index.all_blob_digests() == {digest(c) for c in "abc1de29f03"}
        assert index.manifest_digests() == {digest("1"), digest("2"), digest("3")}

    def test_platform_image_for_manifest_leaves_foreign_layers_out(self):
        document = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {"digest": digest("c"), "size": 1, "mediaType": "x"},
                    "layers": [{"digest": digest("a"), "size": 1, "urls": ["http://127.0.0.1:9/a"], "mediaType": "x"},
                               {"digest": digest("b"), "size": 1, "mediaType": "x"}]}
        manifest = Manifest.from_bytes(json.dumps(document).encode())
        image = ArchivePlatformImage.for_manifest(manifest, Platform(os="linux", architecture="arm64", variant="v8"))
        assert (image.arch, image.os, image.variant) == ("arm64", "linux", "v8")
        assert image.layers == [digest("b")]
        assert image.config == digest("c")
        assert image.digest == manifest.digest
        assert image.platform == Platform(os="linux", architecture="arm64", variant="v8")


class TestEntryNames:
    @pytest.mark.parametrize("name, meaning", [
        ("index.json", ("index", None)),
        ("share/sha256/" + "a" * 64, ("blob", digest("a"))),
        ("a" * 64 + "/index.json", ("folder", digest("a"))),
        ("a" * 64 + "/oci-layout", ("folder", digest("a"))),
        ("share/sha256/" + "A" * 64, None),
        ("share/sha256/" + "a" * 63, None),
        ("share/sha256/../../" + "a" * 64, None),
        ("/index.json", None),
        ("../index.json", None),
        ("a" * 64 + "/blobs/sha256/" + "b" * 64, None),
        ("share/", None),
        ("a" * 64 + "/", ("folder", digest("a"))),
        ("index.json\x00evil", None),
    ])
    def test_parse(self, name, meaning):
        assert parse_entry_name(name) == meaning

    def test_names_and_folder_index(self):
        assert blob_entry_name(digest("a")) == "share/sha256/" + "a" * 64
        assert folder_entry_names(digest("b")) == ("b" * 64 + "/index.json", "b" * 64 + "/oci-layout")
        assert json.loads(folder_index_json("m", digest("b"), 12)) == {
            "schemaVersion": 2, "manifests": [{"mediaType": "m", "digest": digest("b"), "size": 12}]}


@pytest.mark.parametrize("text, expected", [
    ("2026-03-20T15:04:05.123456789+08:00", datetime(2026, 3, 20, 15, 4, 5, 123456, timezone(timedelta(hours=8)))),
    ("2026-03-20T07:04:05Z", datetime(2026, 3, 20, 7, 4, 5, tzinfo=UTC)),
    ("2026-03-20T07:04:05.5-03:30", datetime(2026, 3, 20, 7, 4, 5, 500000, timezone(-timedelta(hours=3.5)))),
    ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
])
def test_parse_time(text, expected):
    assert parse_time(text) == expected
