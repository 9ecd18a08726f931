"""hangar_validate in its three modes, passing and failing with the right reason, never changing anything."""

import os

import pytest

from tests.support.evidence import FolderWatch, folder_state
from tests.support.module_runner import run_module


@pytest.fixture
def loaded(registry, registry_factory, client_for, image_factory, unique_repo, tmp_path):
    """Two multi-arch images saved from the session registry and loaded into a fresh one."""
    source = client_for(registry)
    repositories = [unique_repo("val"), unique_repo("val")]
    images = {}
    for repository in repositories:
        images[repository] = image_factory.docker_manifest_list(platforms=("linux/amd64", "linux/arm64/v8"))
        images[repository].push(source, repository, "1.0")
    archive = str(tmp_path / "val.zip")
    references = ["%s/%s:1.0" % (registry.host, repository) for repository in repositories]
    saved = run_module("hangar_save", dict(images=references, archive=archive, tls_verify=False))
    assert saved["changed"] is True, saved
    destination = registry_factory(count_requests=True)
    result = run_module("hangar_load", dict(archive=archive, registry=destination.host, tls_verify=False))
    assert result["changed"] is True, result
    return dict(archive=archive, destination=destination, images=images, references=references,
                client=client_for(destination))


def test_all_three_modes_pass_after_save_and_load(registry, loaded):
    modes = [
        dict(archive=loaded["archive"], registry=loaded["destination"].host),
        dict(images=["%s %s/%s 1.0" % (ref.rsplit(":", 1)[0], loaded["destination"].host, repo)
                     for ref, repo in zip(loaded["references"], loaded["images"])]),
        dict(images=loaded["references"], archive=loaded["archive"]),
    ]
    archive_folder = os.path.dirname(loaded["archive"])
    for args in modes:
        for check_mode in (True, False):
            positions = registry.log_position(), loaded["destination"].log_position()
            before = folder_state(archive_folder)
            with FolderWatch(archive_folder) as watch:
                result = run_module("hangar_validate", dict(args, tls_verify=False, source_tls_verify=False),
                                    check_mode=check_mode)
            assert result.get("failed") is not True, result
            assert result["changed"] is False
            assert registry.writes_since(positions[0]) == []
            assert loaded["destination"].writes_since(positions[1]) == []
            assert watch.events == [], watch.events
            assert folder_state(archive_folder) == before  # the archive's bytes and mtime
            assert result["stats"] == dict(result["stats"], images=2, passed=2, failed=0)
            assert all(p["status"] == "present" for image in result["images"] for p in image["platforms"])


def test_deleted_tag_fails_with_tag_missing_and_writes_failed_file(loaded, tmp_path):
    repository, image = next(iter(loaded["images"].items()))
    loaded["client"].delete_manifest(repository, image.digest)
    failed_file = tmp_path / "failed.txt"

    position = loaded["destination"].log_position()
    archive_before = folder_state(os.path.dirname(loaded["archive"]))

    result = run_module("hangar_validate", dict(archive=loaded["archive"], registry=loaded["destination"].host,
                                                tls_verify=False, failed_file=str(failed_file)))

    assert result["failed"] is True
    assert result["changed"] is False
    assert loaded["destination"].writes_since(position) == [], "validate repaired or changed the registry"
    assert folder_state(os.path.dirname(loaded["archive"])) == dict(
        archive_before, **{"failed.txt": folder_state(tmp_path)["failed.txt"]})
    by_source = {image["source"].split("/", 1)[1]: image for image in result["images"]}
    assert by_source[repository]["status"] == "failed"
    assert by_source[repository]["reason"].startswith("tag missing")
    assert "1 failed" in result["msg"]
    assert failed_file.read_text().strip() == loaded["references"][0]
    assert result["failed_images"] == [loaded["references"][0]]


def test_missing_platform_fails_with_digest_missing(loaded):
    repository, image = next(iter(loaded["images"].items()))
    amd64 = next(c for c in image.top.children if c["platform"]["architecture"] == "amd64")
    loaded["client"].put_manifest(repository, "1.0", image.children[0].data, image.children[0].media_type)
    assert image.children[0].digest == amd64["digest"]

    result = run_module("hangar_validate", dict(archive=loaded["archive"], registry=loaded["destination"].host,
                                                tls_verify=False, fail_on_mismatch=False))

    assert "failed" not in result, "fail_on_mismatch: false reports without failing"
    assert len(result["failed_images"]) == 1
    failed = [image for image in result["images"] if image["status"] == "failed"]
    assert len(failed) == 1
    assert "digest missing: linux/arm64/v8" in failed[0]["reason"]
    statuses = {p["platform"]: p["status"] for p in failed[0]["platforms"]}
    assert statuses == {"linux/amd64": "present", "linux/arm64/v8": "missing"}


def test_tag_pointing_elsewhere_fails_with_platform_mismatch(loaded, image_factory):
    repository = next(iter(loaded["images"]))
    other = image_factory.docker_manifest_list(platforms=("linux/amd64", "linux/arm64/v8"))
    other.push(loaded["client"], repository, "1.0")

    result = run_module("hangar_validate", dict(archive=loaded["archive"], registry=loaded["destination"].host,
                                                tls_verify=False))

    assert result["failed"] is True
    failed = next(image for image in result["images"] if image["status"] == "failed")
    assert "platform mismatch: linux/amd64" in failed["reason"]
    assert "platform mismatch: linux/arm64/v8" in failed["reason"]


def test_nothing_to_compare_is_a_clear_error():
    result = run_module("hangar_validate", dict(registry="127.0.0.1:1"))

    assert result["failed"] is True
    assert "one of the following is required: archive, images, file" in result["msg"]  # the argument spec (issue 12)
    archive_alone = run_module("hangar_validate", dict(archive="/nonexistent/a.zip"))
    assert archive_alone["failed"] is True
    assert "nothing to compare" in archive_alone["msg"]
    assert "give archive and registry" in archive_alone["msg"]
