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

    previous = run_module("hangar_save", first_half)
    assert previous.get("failed") is not True, previous["msg"]
    assert leftovers(usb, archive.name) == [], "the rerun did not clean the killed run's temporary file"

    kills = mid_write = 0
    for request_number in sorted(rng.sample(range(3, 30), 4)):
        kills += kill_at_request("hangar_save", everything, tmp_path, proxy, request_number)
        mid_write += bool(leftovers(usb, archive.name))
        assert archive.exists()
        # An update appends in place: what a reader sees (the last committed state) is what counts.
        if archive_sources(str(archive)) != sorted(references(proxy.host, repositories[:2])):
            assert_archive_holds(str(archive), proxy.host, images)  # it finished before the kill
        assert_only_temp_files_left()
    assert kills >= 3, "the saves ended before most kill points; slow the link down"
    assert mid_write >= 2, "too few kills landed while the new archive was being written"

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

    kills = tags_seen = 0
    for request_number in sorted(rng.sample(range(5, 120), 3)):
        kills += kill_at_request("hangar_load", args, tmp_path, proxy, request_number)
        tags_seen += assert_no_dangling_tags(direct)
    assert kills >= 2 and tags_seen > 0, (kills, tags_seen)

    assert_complete_and_valid(archive, destination, images, ("hangar_load", args))


def test_kill_9_during_mirror_never_leaves_a_tag_with_missing_blobs(slow_source, slow_destination, client_for,
                                                                    tmp_path):
    source, source_proxy, images = slow_source
    destination, proxy = slow_destination
    args = dict(images=references(source_proxy.host, images), registry=proxy.host, tls_verify=False,
                source_tls_verify=False, **ALL_PLATFORMS)
    rng = random.Random(SEED + 2)
    direct = client_for(destination)

    kills = tags_seen = 0
    for request_number in sorted(rng.sample(range(5, 120), 3)):
        kills += kill_at_request("hangar_mirror", args, tmp_path, proxy, request_number)
        tags_seen += assert_no_dangling_tags(direct)
    assert kills >= 2 and tags_seen > 0, (kills, tags_seen)

    rerun = run_module("hangar_mirror", args)
    assert rerun.get("failed") is not True, rerun["msg"]
    validated = run_module("hangar_validate", dict(images=references(source.host, images), registry=destination.host,
                                                   tls_verify=False, source_tls_verify=False, **ALL_PLATFORMS))
    assert validated.get("failed") is not True, validated["msg"]
    assert_registry_holds(destination, images)
