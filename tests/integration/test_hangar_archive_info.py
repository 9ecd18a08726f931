"""hangar_archive_info on our archives and on Go-written (Hangar CLI) ones: listing, verify, query."""

import pytest

from tests.support.go_zip import blob_entry, hangar_cli_entries, tampered, write_go_zip
from tests.support.image_sets import ALL_PLATFORMS, push_small_set, references
from tests.support.module_runner import run_module


@pytest.fixture
def saved(registry_factory, client_for, image_factory, tmp_path):
    server = registry_factory()
    images = push_small_set(client_for(server), image_factory)
    archive = str(tmp_path / "images.zip")
    result = run_module("hangar_save", dict(images=references(server.host, sorted(images)), archive=archive,
                                            tls_verify=False, **ALL_PLATFORMS))
    assert result.get("failed") is not True, result["msg"]
    return server, images, archive


def test_lists_our_archive_with_digests_platforms_and_sizes(saved):
    server, images, archive = saved
    info = run_module("hangar_archive_info", dict(archive=archive))
    assert info.get("failed") is not True, info["msg"]
    assert info["changed"] is False and "problems" not in info
    assert info["archive"]["images"] == len(images) and info["charts"] == [] and info["files"] == []
    assert info["archive"]["index_version"] == "v1.2.0" and info["archive"]["dead_bytes"] == 0
    listed = {item["source"]: item for item in info["images"]}
    for repository, image in images.items():
        item = listed["%s/%s" % (server.host, repository)]
        assert item["reference"] == "%s/%s:1.0" % (server.host, repository)
        assert item["digest"] == image.digest
        expected = [m.digest for m in image.children] if image.top.is_index else [image.digest]
        assert sorted(p["digest"] for p in item["platforms"]) == sorted(expected)
        assert item["bytes"] >= max(p["bytes"] for p in item["platforms"]) > 0  # shared layers count once
    tool = listed["%s/small/tool" % server.host]
    assert {(p["arch"], p["variant"]) for p in tool["platforms"]} == {("amd64", ""), ("arm64", "v8"), ("arm", "v7")}
    assert info["blobs"]["missing"] == [] and info["blobs"]["unreferenced"] == []

    checked = run_module("hangar_archive_info", dict(archive=archive, verify=True), check_mode=True)
    assert checked.get("failed") is not True, checked["msg"]
    assert checked["verified"] is True and checked["problems"] == []

    queried = run_module("hangar_archive_info", dict(archive=archive, query="[?platforms[?arch=='arm']].reference"))
    assert queried["query_result"] == ["%s/small/tool:1.0" % server.host]


def test_a_bad_query_fails_naming_it(saved):
    _server, _images, archive = saved
    result = run_module("hangar_archive_info", dict(archive=archive, query="[?"))
    assert result.get("failed") is True and "[?" in result["msg"] and "JMESPath" in result["msg"]


@pytest.fixture
def cli_world(image_factory):
    image = image_factory.docker_manifest_list()
    single = image_factory.oci_image()
    blobs = dict(image.blobs, **single.blobs)
    return image, single, blobs


@pytest.mark.parametrize("directory_entries", [False, True], ids=["no-dirs", "dirs"])
def test_hangar_cli_archives_are_listed_and_verify(cli_world, tmp_path, directory_entries):
    image, single, blobs = cli_world
    entries, _index = hangar_cli_entries([("docker.io/library/multi", "1", image.manifests),
                                          ("docker.io/library/single", "2", single.manifests)], blobs,
                                         directory_entries=directory_entries)
    path = str(tmp_path / "cli.zip")
    write_go_zip(path, entries)
    info = run_module("hangar_archive_info", dict(archive=path, verify=True))
    assert info.get("failed") is not True, info["msg"]
    assert info["verified"] is True
    multi, one = info["images"]
    assert multi["reference"] == "docker.io/library/multi:1" and multi["digest"] is None
    assert sorted(p["digest"] for p in multi["platforms"]) == sorted(m.digest for m in image.children)
    assert one["platforms"][0]["digest"] == single.digest


def test_verify_catches_a_flipped_byte_and_a_missing_platform_folder(cli_world, tmp_path):
    image, single, blobs = cli_world
    entries, _index = hangar_cli_entries([("docker.io/library/multi", "1", image.manifests),
                                          ("docker.io/library/single", "2", single.manifests)], blobs)
    layer = single.top.layers[0]["digest"]
    original = dict(entries)[blob_entry(layer)]
    # The CRC is computed over the altered bytes (write_go_zip does): only the sha256 can tell.
    spoiled = tampered(entries, blob_entry(layer), original[:10] + bytes([original[10] ^ 1]) + original[11:])
    lost = image.children[1].digest[len("sha256:"):]
    spoiled = [(name, data) for name, data in spoiled if not name.startswith(lost + "/")]
    path = str(tmp_path / "spoiled.zip")
    write_go_zip(path, spoiled)

    failed = run_module("hangar_archive_info", dict(archive=path, verify=True))
    assert failed.get("failed") is True
    assert failed["verified"] is False
    problems = {problem["entry"]: problem for problem in failed["problems"]}
    assert "digest" in problems[blob_entry(layer)]["problem"]
    assert problems[blob_entry(layer)]["image"] == "docker.io/library/single:2"
    assert "platform folder missing" in problems[lost + "/"]["problem"]
    assert problems[lost + "/"]["image"] == "docker.io/library/multi:1"
    assert len(failed["problems"]) == 2, failed["problems"]
    assert blob_entry(layer) in failed["msg"] or lost in failed["msg"]

    listed = run_module("hangar_archive_info", dict(archive=path, verify=True, fail_on_problems=False))
    assert listed.get("failed") is not True
    assert listed["verified"] is False and len(listed["problems"]) == 2


def test_an_unreadable_archive_fails_with_a_clear_message(tmp_path):
    path = tmp_path / "not.zip"
    path.write_bytes(b"not a zip")
    result = run_module("hangar_archive_info", dict(archive=str(path)))
    assert result.get("failed") is True and str(path) in result["msg"] and "zip" in result["msg"]
