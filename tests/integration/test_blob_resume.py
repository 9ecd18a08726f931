"""A blob download cut off mid-body resumes from the last byte received (Range), instead of
fetching the whole blob again; a registry that ignores ranges still gives the exact blob."""

import hashlib
import os

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import RegistryError
from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient, _BlobDownload
from ansible_collections.airgap.hangar.plugins.module_utils._registry.retry import RetryPolicy
from tests.support.fault_proxy import FaultProxy
from tests.support.flaky_blob_server import FlakyBlobServer
from tests.support.module_runner import run_module

QUICK_RETRY = RetryPolicy(base_delay=0.01, max_delay=0.05)
BLOB_PATH = r"/blobs/sha256:"


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def read_through(client, repo, digest, size):
    with client.open_blob(repo, digest, size) as reader:
        return reader.read_all_verified()


@pytest.fixture
def pushed_blob(registry, client_for, unique_repo):
    repo, data = unique_repo(), os.urandom(4 * 1024 * 1024 + 123)
    client_for(registry).push_blob(repo, digest_of(data), len(data), data)
    return repo, data


def test_a_download_reset_four_times_resumes_each_time_at_the_byte_it_reached(registry, pushed_blob):
    repo, data = pushed_blob
    with FaultProxy(registry.host, seed=3, reset_rate=1.0, fault_paths=BLOB_PATH, max_faults=4,
                    max_streak=10) as proxy, \
            RegistryClient(proxy.host, tls_verify=False, retry=QUICK_RETRY) as client:
        assert read_through(client, repo, digest_of(data), len(data)) == data
        stats = client.stats.as_dict()
    gets = [request for request in proxy.requests if request.method == "GET" and "/blobs/" in request.path]
    ranges = [{k.lower(): v for k, v in request.headers.items()}.get("range") for request in gets]
    assert proxy.faults["reset-response"] == 4
    assert len(gets) == 5 and ranges[0] is None
    offsets = [int(value[len("bytes="):-1]) for value in ranges[1:]]
    assert offsets == sorted(offsets) and offsets[-1] > 0, ranges
    assert stats["resumes"] == 4
    # Restarting from zero would have moved the blob about three times (four halves plus a whole).
    assert stats["bytes_received"] < 1.5 * len(data)


def test_a_mirror_through_resets_uploads_each_blob_once(registry_factory, client_for, image_factory, unique_repo):
    source = registry_factory()
    destination = registry_factory(count_requests=True)
    repo = unique_repo()
    image = image_factory.image(layer_sizes=(3 * 1024 * 1024, 2 * 1024 * 1024))
    image.push(client_for(source), repo, "v1")
    with FaultProxy(source.host, seed=5, reset_rate=1.0, fault_paths=BLOB_PATH, max_faults=6, max_streak=10) as proxy:
        result = run_module("hangar_mirror", {
            "images": ["%s/%s %s/%s v1" % (proxy.host, repo, destination.host, repo)],
            "source_tls_verify": False, "tls_verify": False, "arch": ["amd64"]})
    assert not result.get("failed"), result.get("msg")
    assert result["images"][0]["status"] == "copied"
    assert proxy.faults["reset-response"] == 6
    assert client_for(destination).head_manifest(repo, "v1")["digest"] == image.digest
    blobs = len(image.blob_digests)
    # One upload per blob at the destination: the resets were healed on the download side.
    assert destination.count_requests("PUT", r"/blobs/uploads/") == blobs
    assert destination.count_requests("POST", r"/blobs/uploads/") == blobs


def test_a_registry_that_ignores_ranges_still_yields_the_exact_blob():
    data = os.urandom(5 * 1024 * 1024)
    with FlakyBlobServer(data, cuts=2, honour_range=False) as server, \
            RegistryClient(server.host, tls_verify=False, retry=QUICK_RETRY) as client:
        assert read_through(client, "team/app", digest_of(data), len(data)) == data
        assert client.stats.resumes == 2
    assert server.ranges[0] is None and all(value.startswith("bytes=") for value in server.ranges[1:])


def test_ranges_answered_206_continue_from_the_offset_received():
    data = os.urandom(9 * 1024 * 1024)
    with FlakyBlobServer(data, cuts=3, honour_range=True) as server, \
            RegistryClient(server.host, tls_verify=False, retry=QUICK_RETRY) as client:
        assert read_through(client, "team/app", digest_of(data), None) == data
        received = client.stats.bytes_received
    offsets = [int(value[len("bytes="):-1]) for value in server.ranges[1:]]
    assert offsets == sorted(offsets) and len(offsets) == 3 and offsets[0] > 0
    # Each cut loses at most the 1 MiB chunk being read: far less than fetching 9 MiB again.
    assert received < len(data) + 3 * 1024 * 1024


def test_resumes_are_bounded():
    data = os.urandom(3 * 1024 * 1024)
    with FlakyBlobServer(data, cuts=_BlobDownload.MAX_RESUMES + 5, honour_range=True) as server, \
            RegistryClient(server.host, tls_verify=False, retry=QUICK_RETRY) as client, \
            pytest.raises(RegistryError) as raised:
        read_through(client, "team/app", digest_of(data), len(data))
    assert "fetching blob %s/team/app@%s" % (server.host, digest_of(data)) in str(raised.value)
    assert len(server.ranges) == _BlobDownload.MAX_RESUMES + 1
