"""hangar_mirror against real registries: formats, byte-identical copies, mounts, merges, reruns."""

import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support import skopeo
from tests.support.evidence import FolderWatch
from tests.support.fault_proxy import FaultProxy
from tests.support.image_factory import parse_platform
from tests.support.module_runner import run_module

ALL_PLATFORMS = {"arch": [], "os": []}


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def mount_of(entry):
    """(digest, from repository) of a cross-repository mount request in the access log."""
    query = parse_qs(urlsplit(entry.path).query)
    return query.get("mount", [None])[0], query.get("from", [None])[0]


@pytest.fixture
def source_images(registry, client_for, image_factory, unique_repo):
    """Three images of different kinds pushed to the session registry: {repo: TestImage}, tag 1.0."""
    client = client_for(registry)
    images = {
        unique_repo("src"): image_factory.oci_index(),
        unique_repo("src") + "/team/app": image_factory.docker_manifest_list(),
        unique_repo("src"): image_factory.docker_image(),
    }
    for repository, image in images.items():
        image.push(client, repository, "1.0")
    return images


def test_default_format_lines_go_to_registry_and_project_byte_identical(registry, registry_factory, source_images,
                                                                        tmp_path):
    destination = registry_factory(count_requests=True)
    image_list = tmp_path / "images.txt"
    image_list.write_text("# images to mirror\n\n" + "".join("%s/%s:1.0\n" % (registry.host, repo)
                                                             for repo in source_images))
    args = dict(file=str(image_list), registry=destination.host, project="mirrored", tls_verify=False,
                source_tls_verify=False, **ALL_PLATFORMS)

    result = run_module("hangar_mirror", args)

    assert result["changed"] is True, result
    assert result["stats"]["copied"] == 3 and result["stats"]["failed"] == 0
    for repo, image in source_images.items():
        dest_repo = "mirrored/" + repo.split("/", 1)[1]
        raw = skopeo.inspect_raw("%s:1.0" % dest_repo, destination)
        assert digest_of(raw) == image.digest
        for child in image.children:
            assert digest_of(skopeo.inspect_raw("%s@%s" % (dest_repo, child.digest), destination)) == child.digest
    before_rerun = destination.log_position()

    rerun = run_module("hangar_mirror", args)

    assert rerun["changed"] is False, rerun
    assert rerun["stats"]["unchanged"] == 3
    assert destination.writes_since(before_rerun) == [], "a rerun with nothing to do sent writes"


def test_mirror_format_honours_dest_registry_and_tag(registry, registry_factory, source_images, tmp_path):
    destination = registry_factory()
    repo = next(iter(source_images))
    image_list = tmp_path / "mirror.txt"
    image_list.write_text("%s/%s\t%s/copies/app  1.0\n" % (registry.host, repo, destination.host))

    result = run_module("hangar_mirror", dict(file=str(image_list), tls_verify=False, source_tls_verify=False,
                                              **ALL_PLATFORMS))

    assert result["changed"] is True, result
    assert result["images"][0]["destination"] == "%s/copies/app:1.0" % destination.host
    assert digest_of(skopeo.inspect_raw("copies/app:1.0", destination)) == source_images[repo].digest


def test_within_one_registry_blobs_are_mounted_not_sent(registry, source_images, unique_repo):
    repo, image = next(iter(source_images.items()))
    target = unique_repo("mounted")
    before = registry.log_position()

    result = run_module("hangar_mirror", dict(
        images=[{"source": "%s/%s" % (registry.host, repo), "dest": "%s/%s" % (registry.host, target),
                 "tag": "1.0"}], tls_verify=False, source_tls_verify=False, **ALL_PLATFORMS))

    assert result["changed"] is True, result
    uploads = registry.requests_since(before, r"^/v2/%s/blobs/uploads/" % re.escape(target))
    mounted = sorted(mount_of(entry) for entry in uploads if entry.method == "POST" and entry.status == 201)
    assert mounted == sorted((digest, repo) for digest in image.blobs), uploads
    assert [entry for entry in uploads if entry.method in ("PATCH", "PUT")] == [], "blob bytes were sent"
    assert registry.requests_since(before, r"^/v2/%s/blobs/sha256:" % re.escape(repo), ("GET",)) == [], \
        "blobs were downloaded from the source"
    assert digest_of(skopeo.inspect_raw("%s:1.0" % target, registry)) == image.digest


def test_one_arch_then_another_merges_into_one_index(registry, client_for, image_factory, unique_repo):
    source = unique_repo("src")
    image = image_factory.docker_manifest_list(platforms=("linux/amd64", "linux/arm64/v8"))
    image.push(client_for(registry), source, "2.0")
    target = unique_repo("merged")
    args = dict(images=["%s/%s:2.0 %s/%s 2.0" % (registry.host, source, registry.host, target)][0:0] or [
        {"source": "%s/%s" % (registry.host, source), "dest": "%s/%s" % (registry.host, target), "tag": "2.0"}],
        tls_verify=False, source_tls_verify=False)

    first = run_module("hangar_mirror", dict(args, arch=["amd64"]))
    second = run_module("hangar_mirror", dict(args, arch=["arm64"]))

    assert first["changed"] is True and second["changed"] is True, (first, second)
    merged = client_for(registry).get_manifest(target, "2.0")
    platforms = sorted(child["platform"]["architecture"] for child in merged.children)
    assert platforms == ["amd64", "arm64"]
    assert {child["digest"] for child in merged.children} == {child.digest for child in image.children}

    again = run_module("hangar_mirror", dict(args, arch=["arm64"]))
    assert again["changed"] is False, again

    replaced = run_module("hangar_mirror", dict(args, arch=["arm64"], overwrite=True))
    assert replaced["changed"] is True
    only = client_for(registry).get_manifest(target, "2.0")
    assert [child["platform"]["architecture"] for child in only.children] == ["arm64"]


def test_check_mode_reports_without_writing(registry, registry_factory, source_images, tmp_path):
    destination = registry_factory(count_requests=True)
    repo = next(iter(source_images))
    failed_file = tmp_path / "failed.txt"
    args = dict(images=["%s/%s:1.0" % (registry.host, repo)], registry=destination.host, tls_verify=False,
                source_tls_verify=False, failed_file=str(failed_file), **ALL_PLATFORMS)

    source_before, destination_before = registry.log_position(), destination.log_position()
    with FolderWatch(tmp_path) as watch:
        checked = run_module("hangar_mirror", args, check_mode=True)

    assert checked["changed"] is True, checked
    assert checked["images"][0]["status"] == "copied"
    assert "Would have" in checked["msg"]
    assert destination.writes_since(destination_before) == []
    assert registry.writes_since(source_before) == []
    assert destination.requests_since(destination_before, r"/manifests/", ("GET", "HEAD")), \
        "check mode never looked at the destination: the test proves nothing"
    assert watch.events == [] and not failed_file.exists()
    with pytest.raises(skopeo.SkopeoError):
        skopeo.inspect_raw("%s:1.0" % repo, destination)

    run_module("hangar_mirror", args)
    destination_before = destination.log_position()
    assert run_module("hangar_mirror", args, check_mode=True)["changed"] is False
    assert destination.writes_since(destination_before) == []


def test_missing_image_fails_only_itself_and_is_written_to_failed_file(registry, registry_factory, source_images,
                                                                       tmp_path):
    destination = registry_factory()
    repo = next(iter(source_images))
    missing = "%s/nothing/here:1.0" % registry.host
    failed_file = tmp_path / "failed.txt"

    result = run_module("hangar_mirror", dict(images=["%s/%s:1.0" % (registry.host, repo), missing],
                                              registry=destination.host, tls_verify=False, source_tls_verify=False,
                                              failed_file=str(failed_file), **ALL_PLATFORMS))

    assert result["failed"] is True
    statuses = {image["reference"]: image["status"] for image in result["images"]}
    assert statuses["%s/%s:1.0" % (registry.host, repo)] == "copied"
    assert statuses[missing] == "failed"
    failure = "%s: Error fetching manifest %s: MANIFEST_UNKNOWN manifest unknown (HTTP 404)" % (missing, missing)
    assert result["msg"].startswith("1 of 2 images failed; first: " + failure + ". "), result["msg"]
    assert statuses and [image["error"] for image in result["images"] if image["status"] == "failed"] == [
        failure.split(": ", 1)[1]]
    assert failed_file.read_text() == missing + "\n"
    assert result["failed_images"] == [missing]


def test_default_format_line_without_registry_is_an_input_error(registry, source_images):
    result = run_module("hangar_mirror", dict(images=["%s/x/y:1" % registry.host], tls_verify=False))

    assert result["failed"] is True
    assert "needs the registry option" in result["msg"]
    assert "images[0]" in result["msg"]


def test_a_single_manifest_at_the_tag_is_kept_in_the_merged_index(registry, client_for, image_factory, unique_repo):
    client = client_for(registry)
    source, target = unique_repo("src"), unique_repo("single")
    arm64 = image_factory.image(platform=parse_platform("linux/arm64/v8"))
    arm64.push(client, target, "1.0")
    image_factory.docker_manifest_list(platforms=("linux/amd64",)).push(client, source, "1.0")

    result = run_module("hangar_mirror", dict(
        images=[{"source": "%s/%s" % (registry.host, source), "dest": "%s/%s" % (registry.host, target),
                 "tag": "1.0"}], tls_verify=False, source_tls_verify=False, **ALL_PLATFORMS))

    assert result["changed"] is True, result["msg"]
    merged = client.get_manifest(target, "1.0")
    assert sorted((c["platform"]["architecture"], c["digest"] == arm64.digest) for c in merged.children) == [
        ("amd64", False), ("arm64", True)]


# -- README promises, counted at the registries


def test_a_rerun_costs_one_request_per_image_on_each_side_and_skopeo_reads_every_blob(
        registry, registry_factory, source_images, tmp_path):
    destination = registry_factory(count_requests=True)
    references = ["%s/%s:1.0" % (registry.host, repo) for repo in source_images]
    args = dict(images=references, registry=destination.host, tls_verify=False, source_tls_verify=False,
                **ALL_PLATFORMS)
    source_before, destination_before = registry.log_position(), destination.log_position()

    first = run_module("hangar_mirror", args)

    assert first.get("failed") is not True, first["msg"]
    uploads = destination.requests_since(destination_before, r"/blobs/uploads/[^?]*\?.*digest=", ("PUT",))
    for image_result, (repo, image) in zip(first["images"], source_images.items()):
        assert image_result["status"] == "copied"
        assert image_result["bytes"] == sum(len(data) for data in image.blobs.values()), image_result
        assert 0 < image_result["seconds"] <= first["stats"]["seconds"]
        assert len([u for u in uploads if u.path.startswith("/v2/%s/" % repo)]) == len(image.blobs)
        # skopeo reads every blob of the copy (not only its manifests) and checks each digest.
        assert skopeo.blobs_via_dir("%s:1.0" % repo, destination, str(tmp_path / repo.replace("/", "_"))) \
            == image.blobs
    assert first["stats"]["bytes"] == sum(result["bytes"] for result in first["images"])
    source_before, destination_before = registry.log_position(), destination.log_position()

    rerun = run_module("hangar_mirror", args)

    assert rerun["changed"] is False and rerun["stats"]["unchanged"] == 3, rerun["msg"]
    indexes = [repo for repo, image in source_images.items() if image.top.is_index]
    assert len(indexes) == 2
    # One request per image on each side (and each side's /v2/ probe, once per run).
    # (a single-manifest image's platform is read from its config at the destination, which holds it)
    assert sorted((e.method, e.path) for e in destination.requests_since(destination_before)) == sorted(
        [("GET", "/v2/")] + [("HEAD", "/v2/%s/manifests/1.0" % repo) for repo in source_images]
        + [("GET", "/v2/%s/blobs/%s" % (repo, image.top.config["digest"]))
           for repo, image in source_images.items() if not image.top.is_index])

    def source_requests(since):
        return sorted((e.method, e.path) for e in registry.requests_since(since)
                      if e.path == "/v2/" or any(e.path.startswith("/v2/%s/" % repo) for repo in indexes))

    # At the source, the manifest, and what finds the image's signatures and other supply-chain artifacts
    # (to carry any that appeared since): one tag listing, and a referrers API probe (a 404 here).
    seen = source_requests(source_before)
    discovery = [request for request in seen if "/referrers/" in request[1]]
    assert [request for request in seen if request not in discovery] == sorted(
        [("GET", "/v2/")] + [("GET", "/v2/%s/manifests/1.0" % repo) for repo in indexes]
        + [("GET", "/v2/%s/tags/list" % repo) for repo in indexes])
    assert len(discovery) <= len(indexes), discovery
    source_before = registry.log_position()

    without_artifacts = run_module("hangar_mirror", dict(args, remove_signatures=True))

    assert without_artifacts["changed"] is False, without_artifacts["msg"]
    assert source_requests(source_before) == sorted(
        [("GET", "/v2/")] + [("GET", "/v2/%s/manifests/1.0" % repo) for repo in indexes])


@pytest.mark.parametrize("platforms", [ALL_PLATFORMS, {}], ids=["every-platform", "default-filter"])
def test_a_rerun_of_a_single_manifest_image_costs_one_source_request(registry, registry_factory, client_for,
                                                                     image_factory, unique_repo, platforms):
    """Its platform is in its config: on a rerun that is read at the destination, which holds the same
    manifest, so the source (often the remote side) is asked for the manifest only."""
    repo = unique_repo("single")
    image = image_factory.docker_image(platform="linux/arm64/v8")
    image.push(client_for(registry), repo, "1.0")
    destination = registry_factory(count_requests=True)
    args = dict(images=["%s/%s:1.0" % (registry.host, repo)], registry=destination.host, tls_verify=False,
                source_tls_verify=False, remove_signatures=True, **platforms)
    assert run_module("hangar_mirror", args)["changed"] is True
    source_before, destination_before = registry.log_position(), destination.log_position()

    rerun = run_module("hangar_mirror", args)

    assert rerun["changed"] is False and rerun["images"][0]["status"] == "unchanged", rerun["msg"]
    assert [p["platform"] for p in rerun["images"][0]["platforms"]] == ["linux/arm64/v8"]
    assert [(e.method, e.path) for e in registry.requests_since(source_before, "^/v2/%s/" % re.escape(repo))] == [
        ("GET", "/v2/%s/manifests/1.0" % repo)]
    at_destination = destination.requests_since(destination_before, "^/v2/%s/" % re.escape(repo))
    assert sorted((e.method, e.path) for e in at_destination) == [
        ("GET", "/v2/%s/blobs/%s" % (repo, image.top.config["digest"])), ("HEAD", "/v2/%s/manifests/1.0" % repo)]


def uploaded_digests(server, position, repo):
    """The digests of the blob uploads the registry completed for repo after position."""
    return sorted(parse_qs(urlsplit(entry.path).query)["digest"][0] for entry in server.requests_since(
        position, r"^/v2/%s/blobs/uploads/[^?]*\?.*digest=" % re.escape(repo), ("PUT",)) if entry.status == 201)


def test_blobs_the_destination_has_are_never_sent_again_for_a_new_image(
        registry, registry_factory, client_for, image_factory, unique_repo):
    repo = unique_repo("shared")
    base = image_factory.base_layers()
    first, second = image_factory.docker_image(base=base), image_factory.docker_image(base=base)
    for tag, image in (("1.0", first), ("2.0", second)):
        image.push(client_for(registry), repo, tag)
    destination = registry_factory(count_requests=True)

    def mirror(tag):
        return run_module("hangar_mirror", dict(images=["%s/%s:%s" % (registry.host, repo, tag)],
                                                registry=destination.host, tls_verify=False, source_tls_verify=False,
                                                **ALL_PLATFORMS))

    assert mirror("1.0")["changed"] is True
    position = destination.log_position()

    result = mirror("2.0")

    assert result["changed"] is True, result["msg"]
    shared = {layer.digest for layer in base}
    assert shared and shared <= set(first.blobs) and shared <= set(second.blobs)
    assert uploaded_digests(destination, position, repo) == sorted(set(second.blobs) - shared)
    own = [data for digest, data in second.blobs.items() if digest not in shared]
    assert result["images"][0]["bytes"] == sum(len(data) for data in own)
    assert digest_of(skopeo.inspect_raw("%s:2.0" % repo, destination)) == second.digest


def test_platform_tags_tag_every_platform_manifest(registry, registry_factory, client_for, image_factory,
                                                   unique_repo):
    repo = unique_repo("ptags")
    image = image_factory.docker_manifest_list()
    image.push(client_for(registry), repo, "1.0")
    destination = registry_factory(count_requests=True)
    args = dict(images=["%s/%s:1.0" % (registry.host, repo)], registry=destination.host, tls_verify=False,
                source_tls_verify=False, **ALL_PLATFORMS)

    without = run_module("hangar_mirror", args)
    assert without["changed"] is True
    assert client_for(destination).list_tags(repo) == ["1.0"]

    result = run_module("hangar_mirror", dict(args, platform_tags=True))

    assert result["changed"] is True, result["msg"]
    expected = {"1.0-linux-amd64": image.children[0].digest, "1.0-linux-arm64-v8": image.children[1].digest,
                "1.0-linux-arm-v7": image.children[2].digest}
    assert sorted(client_for(destination).list_tags(repo)) == sorted(["1.0"] + list(expected))
    for tag, digest in expected.items():
        assert digest_of(skopeo.inspect_raw("%s:%s" % (repo, tag), destination)) == digest
    position = destination.log_position()
    assert run_module("hangar_mirror", dict(args, platform_tags=True))["changed"] is False
    assert destination.writes_since(position) == []


def test_an_image_without_an_allowed_platform_is_skipped_and_nothing_is_written(
        registry, registry_factory, source_images):
    destination = registry_factory(count_requests=True)
    repo = next(repo for repo, image in source_images.items() if not image.top.is_index)
    position = destination.log_position()

    result = run_module("hangar_mirror", dict(images=["%s/%s:1.0" % (registry.host, repo)],
                                              registry=destination.host, tls_verify=False, source_tls_verify=False,
                                              arch=["s390x"]))

    assert result.get("failed") is not True, result["msg"]
    assert result["changed"] is False
    assert [image["status"] for image in result["images"]] == ["skipped"]
    assert result["stats"]["skipped"] == 1 and result["stats"]["copied"] == 0
    assert result["images"][0]["warnings"] == ["%s/%s:1.0 has no platform allowed by arch s390x, os linux; skipped"
                                               % (registry.host, repo)]
    assert result["msg"].startswith("Mirrored 1 image to %s: 0 copied, 0 unchanged, 1 skipped, 0 failed"
                                    % destination.host), result["msg"]
    assert destination.writes_since(position) == []


def test_timeout_fails_an_image_that_takes_longer(registry_factory, client_for, image_factory):
    """A link of 20 kB/s makes a copy of about 100 kB take seconds: timeout 1s fails it, with the deadline's
    message, and writes no tag; the same copy without the timeout completes."""
    source = registry_factory()
    image = image_factory.docker_image(layer_sizes=(50_000, 50_000))
    image.push(client_for(source), "slow/app", "1.0")
    destination = registry_factory(count_requests=True)
    with FaultProxy(source.host, bandwidth=20_000) as slow:
        args = dict(images=["%s/slow/app:1.0" % slow.host], registry=destination.host, tls_verify=False,
                    source_tls_verify=False, **ALL_PLATFORMS)

        timed_out = run_module("hangar_mirror", dict(args, timeout="1s"))

        assert timed_out["failed"] is True
        error = timed_out["images"][0]["error"]
        assert timed_out["images"][0]["status"] == "failed"
        # mostly while a blob is copied; on a loaded machine the deadline may pass between two requests
        assert re.match(r"Error (copying blob |sending (GET|HEAD|POST|PUT) /v2/)", error), error
        assert error.endswith(": timed out after 1s (timeout)"), error
        assert destination.requests_since(0, r"/manifests/", ("PUT",)) == []

        completed = run_module("hangar_mirror", args)

    assert completed.get("failed") is not True, completed["msg"]
    assert digest_of(skopeo.inspect_raw("slow/app:1.0", destination)) == image.digest
