"""hangar_save and hangar_load against real registries, checked with skopeo and the archive checkers."""

import hashlib
import json
import os
import zipfile

import pytest

from tests.support import skopeo
from tests.support.archive_checks import check_archive_layout
from tests.support.evidence import FolderWatch, folder_state
from tests.support.go_zip import blob_entry, hangar_cli_entries, tampered, write_go_zip
from tests.support.module_runner import run_module

ALL_PLATFORMS = {"arch": [], "os": []}


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_state(path):
    stat = os.stat(path)
    with open(path, "rb") as stream:
        return stat.st_mtime_ns, hashlib.sha256(stream.read()).hexdigest()


@pytest.fixture
def destination(registry_factory):
    """A fresh registry per test that takes foreign layers, with request counting."""
    return registry_factory(foreign_layers=True, count_requests=True)


@pytest.fixture
def every_kind(registry, client_for, image_factory, unique_repo):
    """One image of every kind the issue lists, pushed as <repo>:1.0: {repo: TestImage}."""
    client = client_for(registry)
    base = image_factory.base_layers()
    images = {
        unique_repo("kinds") + "/oci-index": image_factory.oci_index(),
        unique_repo("kinds") + "/docker-list": image_factory.docker_manifest_list(base=base),
        unique_repo("kinds") + "/docker-image": image_factory.docker_image(base=base),
        unique_repo("kinds") + "/oci-image": image_factory.oci_image(),
        unique_repo("kinds") + "/foreign": image_factory.foreign_layer_image(),
        unique_repo("kinds") + "/team/deep/name": image_factory.docker_image(),
        unique_repo("kinds") + "/chart": image_factory.helm_chart(),
        unique_repo("kinds") + "/windows": image_factory.windows_list(),
    }
    for repository, image in images.items():
        image.push(client, repository, "1.0")
    return images


def references(registry, repositories, tag="1.0"):
    return ["%s/%s:%s" % (registry.host, repository, tag) for repository in repositories]


def test_round_trip_of_every_kind_keeps_every_digest(registry, destination, every_kind, tmp_path):
    archive = str(tmp_path / "images.zip")
    save_args = dict(images=references(registry, every_kind), archive=archive, tls_verify=False, **ALL_PLATFORMS)

    saved = run_module("hangar_save", save_args)

    assert saved["changed"] is True, saved
    assert saved["stats"]["copied"] == len(every_kind) and saved["stats"]["failed"] == 0
    assert saved["stats"]["blobs_skipped"] > 0, "shared base layers are written once"
    index = check_archive_layout(archive)
    assert len(index["list"]) == len(every_kind)
    before = file_state(archive)

    resaved = run_module("hangar_save", save_args)

    assert resaved["changed"] is False, resaved
    assert file_state(archive) == before, "a rerun with nothing to do leaves the archive untouched"

    load_args = dict(archive=archive, registry=destination.host, tls_verify=False, **ALL_PLATFORMS)
    loaded = run_module("hangar_load", load_args)

    assert loaded["changed"] is True, loaded
    assert loaded["stats"]["failed"] == 0
    for repository, image in every_kind.items():
        assert digest_of(skopeo.inspect_raw("%s:1.0" % repository, destination)) == image.digest, repository
        for child in image.children:
            assert digest_of(skopeo.inspect_raw("%s@%s" % (repository, child.digest), destination)) == child.digest
    uploads = destination.count_requests("PUT", r"/blobs/uploads/")
    manifests = destination.count_requests("PUT", r"/manifests/")

    reloaded = run_module("hangar_load", load_args)

    assert reloaded["changed"] is False, reloaded
    assert reloaded["stats"]["blobs_copied"] == 0
    assert destination.count_requests("PUT", r"/blobs/uploads/") == uploads
    assert destination.count_requests("PUT", r"/manifests/") == manifests


def test_schema1_image_is_converted_and_says_so(registry, destination, client_for, image_factory, unique_repo,
                                                tmp_path):
    repository = unique_repo("schema1")
    image = image_factory.schema1_image(signed=True, name=repository, tag="1.0")
    image.push(client_for(registry), repository, "1.0")
    archive = str(tmp_path / "schema1.zip")

    saved = run_module("hangar_save", dict(images=references(registry, [repository]), archive=archive,
                                           tls_verify=False, **ALL_PLATFORMS))

    assert saved["changed"] is True, saved
    result = saved["images"][0]
    assert result["converted_from_schema1"]
    assert any("schema 1" in warning for warning in result["warnings"])
    loaded = run_module("hangar_load", dict(archive=archive, registry=destination.host, tls_verify=False,
                                            **ALL_PLATFORMS))
    assert loaded["changed"] is True, loaded
    raw = skopeo.inspect_raw("%s:1.0" % repository, destination)
    assert digest_of(raw) == result["digest"]
    assert json.loads(raw)["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"


def test_amd64_archive_then_arm64_archive_merge_and_overwrite_replaces(registry, destination, client_for,
                                                                       image_factory, unique_repo, tmp_path):
    repository = unique_repo("split")
    image = image_factory.docker_manifest_list(platforms=("linux/amd64", "linux/arm64/v8"))
    image.push(client_for(registry), repository, "1.0")
    amd64, arm64 = str(tmp_path / "amd64.zip"), str(tmp_path / "arm64.zip")
    for archive, arch in ((amd64, "amd64"), (arm64, "arm64")):
        saved = run_module("hangar_save", dict(images=references(registry, [repository]), archive=archive,
                                               tls_verify=False, arch=[arch]))
        assert saved["changed"] is True, saved
    load = dict(registry=destination.host, tls_verify=False, arch=[])
    client = client_for(destination)

    assert run_module("hangar_load", dict(load, archive=amd64))["changed"] is True
    assert run_module("hangar_load", dict(load, archive=arm64))["changed"] is True

    merged = client.get_manifest(repository, "1.0")
    assert sorted(c["platform"]["architecture"] for c in merged.children) == ["amd64", "arm64"]
    assert {c["digest"] for c in merged.children} == {c.digest for c in image.children}
    assert run_module("hangar_load", dict(load, archive=arm64))["changed"] is False

    replaced = run_module("hangar_load", dict(load, archive=amd64, overwrite=True))

    assert replaced["changed"] is True
    only = client.get_manifest(repository, "1.0")
    assert [c["platform"]["architecture"] for c in only.children] == ["amd64"]


def test_source_registry_project_subset_and_failed_file(registry, destination, client_for, image_factory,
                                                        unique_repo, tmp_path):
    present, later = unique_repo("sub"), unique_repo("sub")
    image_factory.docker_image().push(client_for(registry), present, "1.0")
    archive = str(tmp_path / "subset.zip")
    image_list = tmp_path / "images.txt"
    image_list.write_text("// the images\nmirror.example.com/%s:1.0\nmirror.example.com/%s:1.0\n" % (present, later))
    failed_file = tmp_path / "failed.txt"
    save_args = dict(file=str(image_list), archive=archive, source_registry=registry.host, tls_verify=False,
                     failed_file=str(failed_file))

    saved = run_module("hangar_save", save_args)

    assert saved["failed"] is True, "a missing image fails the task"
    statuses = [image["status"] for image in saved["images"]]
    assert statuses == ["copied", "failed"]
    assert saved["images"][0]["source"] == "%s/%s" % (registry.host, present)
    assert failed_file.read_text() == "mirror.example.com/%s:1.0\n" % later
    assert saved["failed_images"] == ["mirror.example.com/%s:1.0" % later]
    assert [e["source"] for e in check_archive_layout(archive)["list"]] == ["%s/%s" % (registry.host, present)]

    image_factory.docker_image().push(client_for(registry), later, "1.0")
    retried = run_module("hangar_save", dict(save_args, file=str(failed_file), failed_file=str(tmp_path / "f2")))
    assert retried["changed"] is True and retried["stats"]["copied"] == 1, retried
    assert not (tmp_path / "f2").exists(), "nothing is written when nothing failed"

    subset = tmp_path / "subset.txt"
    subset.write_text("mirror.example.com/%s:1.0\n" % later)
    loaded = run_module("hangar_load", dict(archive=archive, registry=destination.host, file=str(subset),
                                            source_registry=registry.host, project="newproj", tls_verify=False))

    assert loaded["changed"] is True, loaded
    assert [image["destination"] for image in loaded["images"]] == [
        "%s/newproj/%s:1.0" % (destination.host, later.split("/", 1)[1])]
    assert client_for(destination).catalog() == ["newproj/" + later.split("/", 1)[1]]

    missing = run_module("hangar_load", dict(archive=archive, registry=destination.host, tls_verify=False,
                                             images=["%s/not/saved:1.0" % registry.host]))
    assert missing["failed"] is True
    assert "not in the archive" in missing["msg"]


def test_archive_written_as_the_hangar_cli_writes_it_loads(destination, client_for, image_factory, tmp_path):
    images = {"docker.io/library/app": image_factory.oci_index(), "docker.io/team/tool": image_factory.docker_image()}
    blobs = {}
    for image in images.values():
        blobs.update(image.blobs)
    archive = str(tmp_path / "hangar-cli.zip")
    listed = [(source, "2.0", image.manifests) for source, image in images.items()]
    entries, _unused = hangar_cli_entries(listed, blobs, directory_entries=True)
    write_go_zip(archive, entries)

    loaded = run_module("hangar_load", dict(archive=archive, registry=destination.host, tls_verify=False,
                                            **ALL_PLATFORMS))

    assert loaded["changed"] is True, loaded["msg"]
    client = client_for(destination)
    app = client.get_manifest("library/app", "2.0")
    assert {c["digest"] for c in app.children} == {c.digest for c in images["docker.io/library/app"].children}
    tool = client.get_manifest("team/tool", "2.0")
    assert {c["digest"] for c in tool.children} == {images["docker.io/team/tool"].digest}


def test_blob_altered_in_archive_fails_its_image_and_pushes_nothing_of_it(destination, client_for, image_factory,
                                                                          tmp_path):
    good, bad = image_factory.docker_image(), image_factory.docker_image()
    blobs = dict(good.blobs, **bad.blobs)
    entries, _unused = hangar_cli_entries([("docker.io/library/good", "1", good.manifests),
                                           ("docker.io/library/bad", "1", bad.manifests)], blobs)
    layer = bad.top.layers[-1]["digest"]
    original = dict(entries)[blob_entry(layer)]
    archive = str(tmp_path / "tampered.zip")
    write_go_zip(archive, tampered(entries, blob_entry(layer), bytes([original[0] ^ 0xFF]) + original[1:]))

    loaded = run_module("hangar_load", dict(archive=archive, registry=destination.host, tls_verify=False,
                                            **ALL_PLATFORMS))

    assert loaded["failed"] is True
    results = {image["source"]: image for image in loaded["images"]}
    assert results["docker.io/library/good"]["status"] == "copied"
    assert results["docker.io/library/bad"]["status"] == "failed"
    assert "digest mismatch" in results["docker.io/library/bad"]["error"]
    client = client_for(destination)
    assert client.head_manifest("library/bad", bad.digest) is None
    assert client.head_manifest("library/bad", "1") is None
    assert not client.blob_exists("library/bad", layer)


def test_check_mode_writes_nothing_and_predicts_changes(registry, destination, every_kind, tmp_path):
    repositories = list(every_kind)[:3]
    usb = tmp_path / "usb"
    usb.mkdir()
    archive = str(usb / "check.zip")
    save_args = dict(images=references(registry, repositories[:2]), archive=archive, tls_verify=False,
                     **ALL_PLATFORMS)

    def check(module, args, watched, *registries):
        """The module in check mode: no write request at any of `registries`, nothing touched in `watched`."""
        positions = [server.log_position() for server in registries]
        before = folder_state(watched)
        with FolderWatch(watched) as watch:
            result = run_module(module, args, check_mode=True)
        assert result.get("failed") is not True, result["msg"]
        assert watch.events == [], "check mode touched files in %s: %s" % (watched, watch.events)
        assert folder_state(watched) == before
        for server, position in zip(registries, positions):
            assert server.writes_since(position) == [], "check mode sent writes to %s" % server.host
        return result

    checked = check("hangar_save", save_args, usb, registry)

    assert checked["changed"] is True, checked
    assert not os.path.exists(archive)
    assert run_module("hangar_save", save_args)["changed"] is True
    assert check("hangar_save", save_args, usb, registry)["changed"] is False

    # An archive that would gain an image stays byte for byte what it was, mtime included.
    gaining = check("hangar_save", dict(save_args, images=references(registry, repositories)), usb, registry)
    assert gaining["changed"] is True
    assert [image["status"] for image in gaining["images"]] == ["unchanged", "unchanged", "copied"]

    load_args = dict(archive=archive, registry=destination.host, tls_verify=False, **ALL_PLATFORMS)
    predicted = check("hangar_load", load_args, usb, destination)

    assert predicted["changed"] is True, predicted
    assert predicted["stats"]["copied"] == 2
    with pytest.raises(skopeo.SkopeoError):
        skopeo.inspect_raw("%s:1.0" % repositories[0], destination)
    assert run_module("hangar_load", load_args)["changed"] is True
    assert check("hangar_load", load_args, usb, destination)["changed"] is False


def test_check_mode_save_into_a_folder_that_does_not_exist_yet(registry, every_kind, tmp_path):
    repository = next(iter(every_kind))
    archive = tmp_path / "not-yet" / "images.zip"
    args = dict(images=references(registry, [repository]), archive=str(archive), tls_verify=False, **ALL_PLATFORMS)
    position = registry.log_position()

    with FolderWatch(tmp_path) as watch:
        checked = run_module("hangar_save", args, check_mode=True)

    assert checked.get("failed") is not True, checked["msg"]
    assert checked["changed"] is True
    assert [image["status"] for image in checked["images"]] == ["copied"]
    warnings = [w["event"]["msg"] if isinstance(w, dict) else w for w in checked["warnings"]]
    assert warnings == ["the folder of %s does not exist: predicting a new archive" % archive], warnings
    assert watch.events == [] and os.listdir(tmp_path) == []
    assert registry.writes_since(position) == []

    real = run_module("hangar_save", args)

    assert real["failed"] is True
    assert real["msg"] == "Error writing archive %s: its directory does not exist" % archive, real["msg"]
    assert os.listdir(tmp_path) == []


def test_force_starts_a_new_archive(registry, every_kind, tmp_path):
    first, second = list(every_kind)[:2]
    archive = str(tmp_path / "force.zip")
    run_module("hangar_save", dict(images=references(registry, [first]), archive=archive, tls_verify=False,
                                   **ALL_PLATFORMS))

    appended = run_module("hangar_save", dict(images=references(registry, [second]), archive=archive,
                                              tls_verify=False, **ALL_PLATFORMS))
    assert len(check_archive_layout(archive)["list"]) == 2, appended

    forced = run_module("hangar_save", dict(images=references(registry, [second]), archive=archive,
                                            tls_verify=False, force=True, **ALL_PLATFORMS))

    assert forced["changed"] is True
    assert [e["source"] for e in check_archive_layout(archive)["list"]] == ["%s/%s" % (registry.host, second)]
    with zipfile.ZipFile(archive) as opened:
        assert opened.testzip() is None
