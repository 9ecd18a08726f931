"""Archive updates are exclusive: concurrent hangar_save runs into one archive path lose nothing.

Two real module processes save different images into the same archive at once, ten times; every
time both runs' images end in the archive. A writer that cannot get the lock within its timeout
fails naming the lock file, check mode takes no lock and deletes no temporary file, and a load
running while an update appends loads the archive as last committed.
"""

import os
import time

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._archive.locking import ArchiveLock, lock_path
from ansible_collections.airgap.hangar.plugins.module_utils._archive.reader import ArchiveReader
from tests.support.fault_proxy import FaultProxy
from tests.support.image_sets import (
    ALL_PLATFORMS,
    assert_archive_holds,
    assert_registry_holds,
    push_small_set,
    references,
)
from tests.support.module_process import ModuleProcess
from tests.support.module_runner import run_module

TRIALS = 10


@pytest.fixture
def small_set(registry_factory, client_for, image_factory):
    server = registry_factory()
    return server, push_small_set(client_for(server), image_factory)


def test_two_saves_into_one_archive_at_once_keep_both_sets(small_set, tmp_path):
    server, images = small_set
    repositories = sorted(images)
    halves = [repositories[:2], repositories[2:]]
    for trial in range(TRIALS):
        archive = tmp_path / ("trial-%d" % trial) / "images.zip"
        archive.parent.mkdir()
        runs = []
        for number, half in enumerate(halves):
            args = dict(images=references(server.host, half), archive=str(archive), tls_verify=False,
                        **ALL_PLATFORMS)
            workdir = tmp_path / ("trial-%d-run-%d" % (trial, number))
            workdir.mkdir()
            runs.append(ModuleProcess("hangar_save", args, workdir))
        with runs[0], runs[1]:
            results = [run.wait() for run in runs]
        for result in results:
            assert result.get("failed") is not True, result["msg"]
            assert result["changed"] is True
            assert result["stats"]["copied"] == 2, result["msg"]
        assert_archive_holds(str(archive), server.host, images)
        assert sorted(os.listdir(archive.parent)) == ["images.zip"], "a lock or journal was left beside the archive"


def test_a_writer_waiting_past_its_timeout_fails_naming_the_lock(small_set, tmp_path):
    server, images = small_set
    archive = tmp_path / "images.zip"
    args = dict(images=references(server.host, sorted(images)[:1]), archive=str(archive), tls_verify=False,
                timeout="1s", **ALL_PLATFORMS)
    with ArchiveLock(str(archive)):
        result = run_module("hangar_save", args)
    assert result.get("failed") is True
    assert lock_path(str(archive)) in result["msg"]
    assert "process %d" % os.getpid() in result["msg"]
    assert "timeout" in result["msg"]
    assert not archive.exists()


def test_check_mode_takes_no_lock_and_deletes_no_temporary_file(small_set, tmp_path):
    server, images = small_set
    archive = tmp_path / "images.zip"
    args = dict(images=references(server.host, sorted(images)[:1]), archive=str(archive), tls_verify=False,
                **ALL_PLATFORMS)
    assert run_module("hangar_save", args)["changed"] is True
    stale = tmp_path / ".images.zip.0123456789ab.hangar-tmp"
    stale.write_bytes(b"left by a killed run")
    before = sorted(os.listdir(tmp_path))
    # A writer holds the lock: a check-mode run does not wait for it.
    with ArchiveLock(str(archive)):
        checked = run_module("hangar_save", dict(args, images=references(server.host, sorted(images))),
                             check_mode=True)
        assert sorted(os.listdir(tmp_path)) == sorted(before + [os.path.basename(lock_path(str(archive)))])
    assert checked.get("failed") is not True, checked["msg"]
    assert checked["changed"] is True
    assert sorted(os.listdir(tmp_path)) == before
    assert stale.read_bytes() == b"left by a killed run"
    # A real run cleans it.
    assert run_module("hangar_save", args)["changed"] is False
    assert not stale.exists()


def test_a_load_during_an_update_loads_the_last_committed_archive(
        registry_factory, client_for, image_factory, tmp_path):
    """A save appends to the archive over a slow link while hangar_load reads it: the load gets exactly the
    archive as committed before the update, and the update then completes."""
    server = registry_factory()
    images = push_small_set(client_for(server), image_factory)
    repositories = sorted(images)
    archive = tmp_path / "images.zip"
    first = dict(images=references(server.host, repositories[:2]), archive=str(archive), tls_verify=False,
                 **ALL_PLATFORMS)
    assert run_module("hangar_save", first)["changed"] is True
    journal = tmp_path / ".images.zip.journal.hangar-tmp"
    with FaultProxy(server.host, latency=0.01, bandwidth=150_000) as proxy:
        everything = dict(first, images=references(proxy.host, repositories[2:]) + first["images"])
        workdir = tmp_path / "update"
        workdir.mkdir()
        with ModuleProcess("hangar_save", everything, workdir) as update:
            deadline = time.monotonic() + 60
            while not journal.exists():  # the update has begun appending
                assert update.running() and time.monotonic() < deadline, "the update never began appending"
                time.sleep(0.005)
            destination = registry_factory()
            loaded = run_module("hangar_load", dict(archive=str(archive), registry=destination.host,
                                                    tls_verify=False, **ALL_PLATFORMS))
            still_updating = journal.exists()
            saved = update.wait()
    assert loaded.get("failed") is not True, loaded["msg"]
    assert loaded["stats"]["copied"] == 2 and loaded["stats"]["images"] == 2
    assert still_updating, "the update ended before the load did; slow the link down"
    assert_registry_holds(destination, {name: images[name] for name in repositories[:2]})
    assert saved.get("failed") is not True, saved["msg"]
    assert saved["stats"]["copied"] == 2
    with ArchiveReader(str(archive)) as reader:
        reader.verify(check_content=True)
        assert len(reader.index.entries) == 4
