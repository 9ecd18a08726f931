"""`kill -9` of save, load and mirror at seeded points of their run: nothing half-written may show.

A slow link (a FaultProxy with latency and a bandwidth limit, no faults) stretches each run over a
couple of seconds. A kill point is "when the proxy has seen the Nth request of this run", so the
points do not depend on the machine's speed. After each kill the archive path holds the previous
complete archive or nothing, and a registry has no tag naming a manifest whose blobs are missing;
a rerun completes and leaves no temporary file.
"""

import hashlib
import os
import random
import re
import time

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import NotFoundError
from ansible_collections.airgap.hangar.plugins.module_utils._image.manifest import Manifest
from tests.support.fault_proxy import FaultProxy
from tests.support.image_sets import (
    ALL_PLATFORMS,
    archive_sources,
    assert_archive_holds,
    assert_no_dangling_tags,
    assert_registry_holds,
    push_small_set,
    references,
)
from tests.support.module_process import ModuleProcess
from tests.support.module_runner import run_module

SEED = 20240607
SLOW_LINK = {"latency": 0.01, "bandwidth": 150_000}
KILL_WAIT_TIMEOUT = 60.0


def file_digest(path):
    with open(path, "rb") as stream:
        return hashlib.sha256(stream.read()).hexdigest()


def leftovers(directory, archive_name):
    """Files beside the archive other than the archive itself."""
    return sorted(name for name in os.listdir(directory) if name != archive_name)


def temp_file_pattern(archive_name):
    """The documented temporary-file names: `.<archive>.*.hangar-tmp`."""
    return re.compile(r"^\.%s\..+\.hangar-tmp$" % re.escape(archive_name))


def kill_at_request(name, args, workdir, proxy, request_number):
    """Run a module in a child process and SIGKILL it once `proxy` has seen `request_number` requests
    of this run; returns True if it was killed, False if it finished first."""
    seen_before = len(proxy.requests)
    with ModuleProcess(name, args, workdir) as process:
        deadline = time.monotonic() + KILL_WAIT_TIMEOUT
        while process.running() and len(proxy.requests) - seen_before < request_number:
            if time.monotonic() > deadline:
                raise AssertionError("%s never reached request %d" % (name, request_number))
            time.sleep(0.002)
        return process.kill()


def kill_when_held(name, args, workdir, proxy, predicate):
    """Run a module in a child process; SIGKILL it while `proxy` holds the first request matching
    predicate(method, path) half way through its body. Returns the held request."""
    proxy.hold_next(predicate)
    with ModuleProcess(name, args, workdir) as process:
        deadline = time.monotonic() + KILL_WAIT_TIMEOUT
        while not proxy.held.wait(0.01):
            if not process.running() or time.monotonic() > deadline:
                raise AssertionError("%s never sent a request to hold: %s" % (name, process.wait()))
        held = proxy.held_request
        assert process.kill()
    proxy.hold_next(None)
    return held


def kill_when_paused(name, args, workdir, phase):
    """Run a module in a child process that stops at a kill_points phase; SIGKILL it there."""
    with ModuleProcess(name, args, workdir, pause_at=phase) as process:
        assert process.wait_for_pause(phase), "%s never reached %s: %s" % (name, phase, process.wait())
        return process.kill()


def layer_digests(images):
    return {layer["digest"] for image in images.values() for manifest in image.manifests
            if not Manifest.from_bytes(manifest.data).is_index for layer in Manifest.from_bytes(manifest.data).layers}


def blob_download_of(digests):
    return lambda method, path: method == "GET" and path.rsplit("/", 1)[-1] in digests


def blob_upload(method, path):
    return method in ("PUT", "PATCH") and "/blobs/uploads/" in path


def tag_push(method, path):
    return method == "PUT" and path.endswith("/manifests/1.0")


@pytest.fixture
def slow_source(registry_factory, client_for, image_factory):
    """The small set in a registry of our own, and a slow link in front of it."""
    server = registry_factory()
    images = push_small_set(client_for(server), image_factory)
    with FaultProxy(server.host, **SLOW_LINK) as proxy:
        yield server, proxy, images


@pytest.fixture
def slow_destination(registry_factory):
    server = registry_factory()
    with FaultProxy(server.host, **SLOW_LINK) as proxy:
        yield server, proxy


def test_kill_9_during_save_leaves_the_previous_archive_or_nothing(slow_source, tmp_path):
    _server, proxy, images = slow_source
    usb = tmp_path / "usb"
    usb.mkdir()
    archive = usb / "images.zip"
    pattern = temp_file_pattern(archive.name)
    repositories = sorted(images)
    rng = random.Random(SEED)
    first_half = dict(images=references(proxy.host, repositories[:2]), archive=str(archive), tls_verify=False,
                      **ALL_PLATFORMS)
    everything = dict(first_half, images=references(proxy.host, repositories))

    def assert_only_temp_files_left():
        stray = [name for name in leftovers(usb, archive.name) if not pattern.match(name)]
        assert not stray, "files beside the archive that are not .%s.*.hangar-tmp: %s" % (archive.name, stray)

    killed = kill_at_request("hangar_save", first_half, tmp_path, proxy, rng.randint(8, 20))
    assert killed
    assert not archive.exists(), "a killed first save left a file at the archive path"
    assert_only_temp_files_left()
    # A new archive is written beside the path and renamed into place: killed just before the rename,
    # the path still holds nothing.
    assert kill_when_paused("hangar_save", first_half, tmp_path, "before-rename")
    assert not archive.exists(), "a first save killed before its rename left a file at the archive path"
    assert_only_temp_files_left()

    previous = run_module("hangar_save", first_half)
    assert previous.get("failed") is not True, previous["msg"]
    assert leftovers(usb, archive.name) == [], "the rerun did not clean the killed run's temporary file"

    def assert_previous_archive_kept(kill_point):
        assert archive.exists(), kill_point
        # An update appends in place: a reader sees the last committed state, the previous archive.
        assert archive_sources(str(archive)) == sorted(references(proxy.host, repositories[:2])), kill_point
        assert_only_temp_files_left()
        assert leftovers(usb, archive.name), "no temporary file at %s: the kill came too late" % kill_point

    # One kill in each phase of the in-place update, known to land there: while a layer of a new image is
    # half downloaded into the archive (the proxy holds it), while the new index.json is half written.
    kill_points = []
    held = kill_when_held("hangar_save", everything, tmp_path, proxy,
                          blob_download_of(layer_digests({r: images[r] for r in repositories[2:]})))
    kill_points.append("mid-blob (%s %s)" % (held.method, held.path))
    assert_previous_archive_kept(kill_points[-1])
    for phase in ("mid-index",):
        assert kill_when_paused("hangar_save", everything, tmp_path, phase)
        kill_points.append(phase)
        assert_previous_archive_kept(phase)

    # Then at seeded request numbers (fixed seed): wherever they land, previous or complete archive.
    for request_number in sorted(rng.sample(range(3, 30), 3)):
        killed = kill_at_request("hangar_save", everything, tmp_path, proxy, request_number)
        kill_points.append("request %d: %s" % (request_number, "killed" if killed else "finished first"))
        assert archive.exists()
        # An update appends in place: what a reader sees (the last committed state) is what counts.
        if archive_sources(str(archive)) != sorted(references(proxy.host, repositories[:2])):
            assert_archive_holds(str(archive), proxy.host, images)  # it finished before the kill
        assert_only_temp_files_left()
    print("kill -9 points of the save: %s" % "; ".join(kill_points))
    assert [point.split(" ")[0] for point in kill_points[:2]] == ["mid-blob", "mid-index"]

    final = run_module("hangar_save", everything)

    assert final.get("failed") is not True, final["msg"]
    assert leftovers(usb, archive.name) == []
    assert_archive_holds(str(archive), proxy.host, images)


def assert_complete_and_valid(archive, destination, images, run_args):
    """A rerun completes, hangar_validate passes, and skopeo reads every digest."""
    rerun = run_module(*run_args)
    assert rerun.get("failed") is not True, rerun["msg"]
    validated = run_module("hangar_validate", dict(archive=archive, registry=destination.host, tls_verify=False,
                                                   **ALL_PLATFORMS))
    assert validated.get("failed") is not True, validated["msg"]
    assert validated["stats"]["passed"] == len(images)
    assert_registry_holds(destination, images)


def kill_in_each_phase(name, args, workdir, proxy, direct, rng):
    """Kill a load or mirror while a blob upload is half sent, while the first tag's manifest is half sent
    (its platform manifests are in, the tag is not), then at seeded request numbers; after each kill no
    tag may name a missing manifest or blob. Returns (tags checked, kill points)."""
    kill_points, tags_seen = [], 0
    held = kill_when_held(name, args, workdir, proxy, blob_upload)
    kill_points.append("mid-blob (%s %s)" % (held.method, held.path))
    proxy.wait_idle(KILL_WAIT_TIMEOUT)  # what the killed module had sent is answered
    tags_seen += assert_no_dangling_tags(direct)
    held = kill_when_held(name, args, workdir, proxy, tag_push)
    kill_points.append("mid-tag (%s %s)" % (held.method, held.path))
    repository = held.path[len("/v2/"):-len("/manifests/1.0")]
    proxy.wait_idle(KILL_WAIT_TIMEOUT)
    assert repository not in tags_by_repository(direct), "the tag being pushed at the kill exists"
    proxy.wait_idle(KILL_WAIT_TIMEOUT)  # what the killed module had sent is answered
    tags_seen += assert_no_dangling_tags(direct)
    # one kill early (blobs moving), one late (tags being pushed: a mirror of the small set sends its
    # first tag at about request 55 of 100)
    for request_number in (rng.randrange(5, 50), rng.randrange(60, 100)):
        killed = kill_at_request(name, args, workdir, proxy, request_number)
        kill_points.append("request %d: %s" % (request_number, "killed" if killed else "finished first"))
        proxy.wait_idle(KILL_WAIT_TIMEOUT)  # what the killed module had sent is answered
        tags_seen += assert_no_dangling_tags(direct)
    assert [point.split(" ")[0] for point in kill_points[:2]] == ["mid-blob", "mid-tag"], kill_points
    return tags_seen, kill_points


def tags_by_repository(client):
    """{repository: tags} of the repositories that have tags."""
    found = {}
    for repository in client.catalog():
        try:
            tags = client.list_tags(repository) or []
        except NotFoundError:
            tags = []
        if tags:
            found[repository] = tags
    return found


def test_kill_9_during_load_never_leaves_a_tag_with_missing_blobs(registry_factory, client_for, image_factory,
                                                                  slow_destination, tmp_path):
    source = registry_factory()
    images = push_small_set(client_for(source), image_factory)
    archive = str(tmp_path / "images.zip")
    saved = run_module("hangar_save", dict(images=references(source.host, images), archive=archive,
                                           tls_verify=False, **ALL_PLATFORMS))
    assert saved.get("failed") is not True, saved["msg"]
    destination, proxy = slow_destination
    args = dict(archive=archive, registry=proxy.host, tls_verify=False, **ALL_PLATFORMS)
    rng = random.Random(SEED + 1)
    direct = client_for(destination)

    tags_seen, kill_points = kill_in_each_phase("hangar_load", args, tmp_path, proxy, direct, rng)
    print("kill -9 points of the load: %s" % "; ".join(kill_points))
    assert tags_seen > 0, kill_points

    assert_complete_and_valid(archive, destination, images, ("hangar_load", args))


def test_kill_9_during_mirror_never_leaves_a_tag_with_missing_blobs(slow_source, slow_destination, client_for,
                                                                    tmp_path):
    source, source_proxy, images = slow_source
    destination, proxy = slow_destination
    args = dict(images=references(source_proxy.host, images), registry=proxy.host, tls_verify=False,
                source_tls_verify=False, **ALL_PLATFORMS)
    rng = random.Random(SEED + 2)
    direct = client_for(destination)

    tags_seen, kill_points = kill_in_each_phase("hangar_mirror", args, tmp_path, proxy, direct, rng)
    print("kill -9 points of the mirror: %s" % "; ".join(kill_points))
    assert tags_seen > 0, kill_points

    rerun = run_module("hangar_mirror", args)
    assert rerun.get("failed") is not True, rerun["msg"]
    validated = run_module("hangar_validate", dict(images=references(source.host, images), registry=destination.host,
                                                   tls_verify=False, source_tls_verify=False, **ALL_PLATFORMS))
    assert validated.get("failed") is not True, validated["msg"]
    assert_registry_holds(destination, images)
