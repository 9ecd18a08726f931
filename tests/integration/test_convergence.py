"""Reruns converge (issue 12): `overwrite: true` and digest-pinned references rerun as `changed: false`
with no manifest pushed (counted in the destination registry's access log, during the rerun only), and
validate agrees with what a pinned copy put at the destination."""

import json

import pytest

from tests.support import skopeo
from tests.support.module_runner import run_module

THREE_PLATFORMS = ("linux/amd64", "linux/arm64/v8", "linux/arm/v7")


@pytest.fixture
def destination(registry_factory):
    return registry_factory(count_requests=True)


@pytest.fixture
def three_platform_image(registry, client_for, image_factory, unique_repo):
    """A Docker manifest list of amd64, arm64/v8 and arm/v7 (the default filter drops arm/v7) at <repo>:1.0."""
    repository = unique_repo("conv")
    image = image_factory.docker_manifest_list(platforms=THREE_PLATFORMS)
    image.push(client_for(registry), repository, "1.0")
    return repository, image


def manifest_puts(server, repository):
    return server.count_requests("PUT", r"^/v2/%s/manifests/" % repository)


def test_overwrite_rerun_of_a_partial_copy_is_unchanged(registry, destination, three_platform_image):
    repository, image = three_platform_image
    item = {"source": "%s/%s" % (registry.host, repository), "dest": "%s/%s" % (destination.host, repository),
            "tag": "1.0"}
    args = dict(images=[item], overwrite=True, arch=["amd64"], tls_verify=False, source_tls_verify=False)

    first = run_module("hangar_mirror", args)
    assert first["changed"] is True and first["stats"]["copied"] == 1, first
    index = json.loads(skopeo.inspect_raw(repository + ":1.0", destination))
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64"]

    puts_before = manifest_puts(destination, repository)
    again = run_module("hangar_mirror", args)
    assert again["changed"] is False and again["stats"]["unchanged"] == 1, again
    assert manifest_puts(destination, repository) == puts_before, "the rerun pushed a manifest"
    assert again["images"][0]["digest"] == first["images"][0]["digest"]


def test_overwrite_load_rerun_is_unchanged(registry, destination, three_platform_image, tmp_path):
    repository, image = three_platform_image
    archive = str(tmp_path / "amd64.zip")
    run_module("hangar_save", dict(images=["%s/%s:1.0" % (registry.host, repository)], archive=archive,
                                   arch=["amd64"], tls_verify=False))
    args = dict(archive=archive, registry=destination.host, overwrite=True, tls_verify=False)
    first = run_module("hangar_load", args)
    assert first["changed"] is True, first
    puts_before = manifest_puts(destination, repository)
    again = run_module("hangar_load", args)
    assert again["changed"] is False, again
    assert manifest_puts(destination, repository) == puts_before


def test_digest_pin_is_copied_whole_and_resolves(registry, destination, three_platform_image):
    repository, image = three_platform_image
    pinned = "%s/%s@%s" % (registry.host, repository, image.digest)
    args = dict(images=[pinned], registry=destination.host, tls_verify=False, source_tls_verify=False)

    first = run_module("hangar_mirror", args)

    assert first["changed"] is True and first["stats"]["copied"] == 1, first
    result = first["images"][0]
    assert result["digest"] == image.digest
    assert len(result["platforms"]) == 3
    assert any("pinned by digest" in w and "linux/arm/v7" in w for w in result["warnings"]), result
    assert skopeo.inspect_raw("%s@%s" % (repository, image.digest), destination) == image.data

    puts_before = manifest_puts(destination, repository)
    again = run_module("hangar_mirror", args)
    assert again["changed"] is False and again["stats"]["unchanged"] == 1, again
    assert manifest_puts(destination, repository) == puts_before

    validated = run_module("hangar_validate", args)
    assert not validated.get("failed") and validated["stats"]["passed"] == 1, validated
    assert {p["status"] for p in validated["images"][0]["platforms"]} == {"present"}
    assert len(validated["images"][0]["platforms"]) == 3


def test_digest_pin_with_a_tag_replaces_the_tag(registry, destination, client_for, image_factory,
                                                three_platform_image):
    """`name:1.0@sha256:...` names exact bytes: the destination tag ends as that manifest, not a merge."""
    repository, image = three_platform_image
    other = image_factory.docker_image(platform="linux/s390x")
    other.push(client_for(destination), repository, "1.0")  # something else already at the tag
    item = "%s/%s:1.0@%s" % (registry.host, repository, image.digest)
    args = dict(images=[item], registry=destination.host, tls_verify=False, source_tls_verify=False)

    first = run_module("hangar_mirror", args)
    assert first["changed"] is True, first
    assert skopeo.inspect_raw(repository + ":1.0", destination) == image.data
    puts_before = manifest_puts(destination, repository)
    again = run_module("hangar_mirror", args)
    assert again["changed"] is False, again
    assert manifest_puts(destination, repository) == puts_before


def test_digest_pin_through_an_archive(registry, destination, three_platform_image, tmp_path):
    repository, image = three_platform_image
    archive = str(tmp_path / "pinned.zip")
    pinned = "%s/%s@%s" % (registry.host, repository, image.digest)

    saved = run_module("hangar_save", dict(images=[pinned], archive=archive, tls_verify=False))
    assert saved["stats"]["copied"] == 1 and len(saved["images"][0]["platforms"]) == 3, saved
    loaded = run_module("hangar_load", dict(archive=archive, registry=destination.host, tls_verify=False))
    assert loaded["stats"]["copied"] == 1, loaded
    assert skopeo.inspect_raw("%s@%s" % (repository, image.digest), destination) == image.data

    puts_before = manifest_puts(destination, repository)
    again = run_module("hangar_load", dict(archive=archive, registry=destination.host, tls_verify=False))
    assert again["changed"] is False, again
    assert manifest_puts(destination, repository) == puts_before
    validated = run_module("hangar_validate", dict(archive=archive, registry=destination.host, tls_verify=False))
    assert validated["stats"]["passed"] == 1, validated
