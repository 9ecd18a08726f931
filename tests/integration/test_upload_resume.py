"""A chunked upload cut off mid-PATCH or mid-PUT resumes from the offset the registry reports (GET on
the upload URL: Range 0-N), instead of opening a new upload and sending the blob again; a registry that
cannot say where it stands gets the whole upload again, still correct. Distribution 2.8 refuses to go
on with an upload whose stored size differs from the offset signed into its `_state`, so against it a
request cut mid-body falls back (what its access log shows), and only one cut before any byte of its
body arrived is resumed."""

import hashlib
import io
import os
import re
import time

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import DigestMismatchError, RegistryError
from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient, _ChunkedUpload
from ansible_collections.airgap.hangar.plugins.module_utils._registry.retry import RetryPolicy
from tests.support.fault_proxy import FaultProxy
from tests.support.resumable_upload_server import ResumableUploadServer

MiB = 1024 * 1024
CHUNK = 2 * MiB
QUICK_RETRY = RetryPolicy(base_delay=0.01, max_delay=0.05)
UPLOAD_URL = re.compile(r"^/v2/(.+)/blobs/uploads/([0-9a-f-]+)")


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def one_pass(data, piece=300 * 1024):
    """The blob as a generator: read once, never again (no seek, no reopen)."""
    return (data[offset:offset + piece] for offset in range(0, len(data), piece))


def content_range_start(request):
    return int(request.content_range.split("-")[0])


def test_a_chunked_upload_cut_four_times_resumes_each_time_where_the_registry_stands():
    data = os.urandom(8 * MiB + 5)
    log = []
    with ResumableUploadServer(cut_patches={1, 3, 5}, cut_puts={1}) as server, \
            RegistryClient(server.host, tls_verify=False, retry=QUICK_RETRY, log=log.append) as client:
        client.push_blob("team/app", digest_of(data), len(data), one_pass(data), chunk_size=CHUNK)
        stats = client.stats.as_dict()
    assert server.blobs == {digest_of(data): data}
    methods = [request.method for request in server.requests]
    assert methods.count("POST") == 1 and methods.count("DELETE") == 0
    assert stats["upload_resumes"] == 4 and stats["retries"] == 4
    # After each cut: the status (204, Range 0-N), then the same session goes on from byte N+1, where
    # this registry stands since it keeps what arrived (half of the cut PATCH).
    for index, request in enumerate(server.requests):
        if request.status == 0 and request.method == "PATCH":
            status, resumed = server.requests[index + 1], server.requests[index + 2]
            assert (status.method, status.status) == ("GET", 204)
            assert resumed.method == "PATCH" and resumed.status == 202
            start, end = (int(part) for part in request.content_range.split("-"))
            assert content_range_start(resumed) == start + (end - start + 1) // 2
    puts = [request for request in server.requests if request.method == "PUT"]
    assert [put.status for put in puts] == [0, 201]
    assert sum(1 for line in log if line.startswith("Resuming pushing blob")) == 4
    # Each byte reached the registry once; each cut cost the client at most the chunk in flight,
    # where restarting from zero would have sent the blob again after each cut.
    assert server.received == len(data)
    assert len(data) <= stats["bytes_sent"] <= len(data) + 3 * CHUNK


@pytest.mark.parametrize("status", ["unsupported", "unknown", "no-range", "beyond"])
def test_a_registry_that_cannot_tell_where_an_upload_stands_gets_the_whole_upload_again(status):
    data = os.urandom(6 * MiB)
    log = []
    with ResumableUploadServer(cut_patches={2}, status=status) as server, \
            RegistryClient(server.host, tls_verify=False, retry=QUICK_RETRY, log=log.append) as client:
        client.push_blob("team/app", digest_of(data), len(data), io.BytesIO(data), chunk_size=CHUNK,
                         reopen=lambda: io.BytesIO(data))
        stats = client.stats.as_dict()
    assert server.blobs == {digest_of(data): data}
    methods = [request.method for request in server.requests]
    assert methods.count("POST") == 2 and methods.count("GET") == 1 and methods.count("DELETE") == 1
    assert stats["upload_resumes"] == 0 and stats["retries"] == 1
    assert any(line.startswith("Not resuming pushing blob") for line in log), log
    assert any(line.startswith("Retrying POST+PATCH+PUT") for line in log), log
    # The first chunk, half the second, then the whole blob again.
    assert server.received == CHUNK + CHUNK // 2 + len(data)


def test_a_resumed_upload_the_registry_then_refuses_is_uploaded_again_whole():
    data = os.urandom(6 * MiB)
    log = []
    with ResumableUploadServer(cut_patches={2}, status="behind") as server, \
            RegistryClient(server.host, tls_verify=False, retry=QUICK_RETRY, log=log.append) as client:
        client.push_blob("team/app", digest_of(data), len(data), io.BytesIO(data), chunk_size=CHUNK,
                         reopen=lambda: io.BytesIO(data))
        stats = client.stats.as_dict()
    assert server.blobs == {digest_of(data): data}
    assert [(request.method, request.status) for request in server.requests][2:6] == [
        ("PATCH", 0), ("GET", 204), ("PATCH", 416), ("DELETE", 204)]
    assert [request.method for request in server.requests].count("POST") == 2
    # The resume was tried (and counted), then the whole upload retried.
    assert stats["upload_resumes"] == 1 and stats["retries"] == 2
    assert any("refused the resumed upload with HTTP 416" in line for line in log), log


def test_without_reopen_a_cut_that_cannot_be_resumed_is_raised_and_nothing_is_committed():
    data = os.urandom(5 * MiB)
    with ResumableUploadServer(cut_patches={1}, status="unsupported") as server, \
            RegistryClient(server.host, tls_verify=False, retry=QUICK_RETRY) as client, \
            pytest.raises(RegistryError) as raised:
        client.push_blob("team/app", digest_of(data), len(data), one_pass(data), chunk_size=CHUNK)
    assert "pushing blob %s/team/app@%s" % (server.host, digest_of(data)) in str(raised.value)
    assert server.blobs == {} and server.sessions == {}


def test_upload_resumes_are_bounded():
    data = os.urandom(3 * MiB)
    with ResumableUploadServer(cut_patches=range(1, 100)) as server, \
            RegistryClient(server.host, tls_verify=False, retry=QUICK_RETRY) as client, \
            pytest.raises(RegistryError):
        client.push_blob("team/app", digest_of(data), len(data), io.BytesIO(data), chunk_size=CHUNK)
    assert client.stats.upload_resumes == _ChunkedUpload.MAX_RESUMES
    assert [request.method for request in server.requests].count("GET") == _ChunkedUpload.MAX_RESUMES
    assert server.blobs == {}


def test_a_lying_source_is_not_committed_by_a_resumed_upload():
    announced = os.urandom(5 * MiB)
    served = announced[:-1] + bytes([announced[-1] ^ 1])
    with ResumableUploadServer(cut_patches={1, 2}) as server, \
            RegistryClient(server.host, tls_verify=False, retry=QUICK_RETRY) as client, \
            pytest.raises(DigestMismatchError):
        client.push_blob("team/app", digest_of(announced), len(announced), one_pass(served), chunk_size=CHUNK)
    assert client.stats.upload_resumes == 2
    assert server.blobs == {} and [request.method for request in server.requests].count("PUT") == 0


# ---- the real registry (Distribution 2.8) behind the fault proxy


def upload_statuses(entries, repo):
    """(status GET answers) on upload sessions of `repo`, from the registry's access log."""
    return [entry.status for entry in entries if entry.method == "GET" and UPLOAD_URL.match(entry.path)
            and UPLOAD_URL.match(entry.path).group(1) == repo]


def cut_patches(occurrences, fault):
    def script(method, path, occurrence):
        return fault if method == "PATCH" and occurrence in occurrences else None
    return script


def settling(registry, proxy, position):
    """A retry policy whose waits last until the registry has logged its answer to every PATCH and PUT
    the proxy passed on (the cut ones too): the status asked next then shows what the registry made
    of a cut request, never a race with the thread still writing it."""
    def sleep(_seconds):
        wanted = sum(1 for request in proxy.requests if request.method in ("PATCH", "PUT"))
        deadline = time.monotonic() + 10
        while len(registry.requests_since(position, methods=("PATCH", "PUT"))) < wanted:
            if time.monotonic() > deadline:
                return  # the registry never saw that request; nothing to wait for
            time.sleep(0.02)
    return RetryPolicy(sleep=sleep)


def read_back(registry, client_for, repo, digest, size):
    with client_for(registry).open_blob(repo, digest, size) as reader:
        return reader.read_all_verified()


def test_distribution_cancels_an_upload_cut_mid_patch_so_it_is_uploaded_again_whole(
        registry_factory, client_for, unique_repo):
    registry = registry_factory(count_requests=True)
    repo, data = unique_repo(), os.urandom(7 * MiB + 3)
    position = registry.log_position()
    log = []
    with FaultProxy(registry.host, script=cut_patches({1, 4}, "reset-request")) as proxy, \
            RegistryClient(proxy.host, tls_verify=False, retry=settling(registry, proxy, position),
                           log=log.append) as client:
        client.push_blob(repo, digest_of(data), len(data), io.BytesIO(data), chunk_size=CHUNK,
                         reopen=lambda: io.BytesIO(data))
        stats = client.stats.as_dict()
    assert proxy.faults["reset-request"] == 2
    assert read_back(registry, client_for, repo, digest_of(data), len(data)) == data
    entries = registry.requests_since(position)
    # What Distribution does: the cut PATCH's bytes are stored, the `_state` still names the offset
    # before it, so the status answers 404 BLOB_UPLOAD_INVALID (and the upload is cancelled).
    assert upload_statuses(entries, repo) == [404, 404]
    assert sum(1 for entry in entries if entry.method == "POST") == 3
    assert [entry.status for entry in entries if entry.method == "PUT"] == [201]
    assert stats["upload_resumes"] == 0 and stats["retries"] == 2
    assert sum("BLOB_UPLOAD_INVALID" in line for line in log if line.startswith("Not resuming")) == 2


def test_distribution_resumes_an_upload_cut_before_any_byte_of_a_patch_arrived(
        registry_factory, client_for, unique_repo):
    registry = registry_factory(count_requests=True)
    repo, data = unique_repo(), os.urandom(7 * MiB + 3)
    position = registry.log_position()
    with FaultProxy(registry.host, script=cut_patches({1, 2}, "reset-before-body")) as proxy, \
            RegistryClient(proxy.host, tls_verify=False, retry=settling(registry, proxy, position)) as client:
        client.push_blob(repo, digest_of(data), len(data), one_pass(data), chunk_size=CHUNK)
        stats = client.stats.as_dict()
    assert proxy.faults["reset-before-body"] == 2
    assert read_back(registry, client_for, repo, digest_of(data), len(data)) == data
    entries = registry.requests_since(position)
    assert upload_statuses(entries, repo) == [204, 204]
    assert sum(1 for entry in entries if entry.method == "POST") == 1
    assert stats["upload_resumes"] == 2 and stats["retries"] == 2
    # The resumed PATCHes start where the registry stood: the start of the chunk that was cut.
    patches = [request for request in proxy.requests if request.method == "PATCH"]
    ranges = [{key.lower(): value for key, value in request.headers.items()}["content-range"] for request in patches]
    assert ranges[:5] == ["0-%d" % (CHUNK - 1)] + ["%d-%d" % (CHUNK, 2 * CHUNK - 1)] * 3 + [
        "%d-%d" % (2 * CHUNK, 3 * CHUNK - 1)]


def test_a_monolithic_upload_cut_mid_put_is_uploaded_again_whole_without_asking_the_status(
        registry_factory, client_for, unique_repo):
    registry = registry_factory(count_requests=True)
    repo, data = unique_repo(), os.urandom(3 * MiB)

    def cut_first_put(method, path, occurrence):
        return "reset-request" if method == "PUT" and occurrence == 0 else None

    position = registry.log_position()
    with FaultProxy(registry.host, script=cut_first_put) as proxy, \
            RegistryClient(proxy.host, tls_verify=False, retry=settling(registry, proxy, position)) as client:
        client.push_blob(repo, digest_of(data), len(data), io.BytesIO(data), reopen=lambda: io.BytesIO(data))
        stats = client.stats.as_dict()
    assert proxy.faults["reset-request"] == 1
    assert read_back(registry, client_for, repo, digest_of(data), len(data)) == data
    entries = registry.requests_since(position)
    assert upload_statuses(entries, repo) == []
    assert sum(1 for entry in entries if entry.method == "POST") == 2
    assert stats["upload_resumes"] == 0 and stats["retries"] == 1
