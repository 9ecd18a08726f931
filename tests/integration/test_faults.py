"""Faults between the modules and real registries: a FaultProxy injects 503/429 answers, connection
resets in the middle of bodies, or stays down; every copy must still be exact, or fail cleanly and
complete on a rerun."""

import collections
import socket
import ssl

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import NotFoundError
from ansible_collections.airgap.hangar.plugins.module_utils._registry.retry import RetryPolicy
from tests.support.fault_proxy import FaultProxy
from tests.support.image_sets import (
    ALL_PLATFORMS,
    SMALL_SET,
    SMALL_TAG,
    archive_sources,
    assert_archive_holds,
    assert_registry_holds,
    push_small_set,
    references,
)
from tests.support.module_runner import run_module

ATTEMPTS = RetryPolicy().attempts
RETRY_AFTER = 2
FAIL_RATE = 0.10
RESET_RATE = 0.05


@pytest.fixture
def source(registry_factory, client_for, image_factory):
    """A registry of our own holding the small set, under fixed names."""
    server = registry_factory()
    return server, push_small_set(client_for(server), image_factory)


@pytest.fixture
def proxies():
    """proxies(upstream, **FaultProxy options) -> a started FaultProxy, stopped after the test."""
    started = []

    def start(upstream, **options):
        proxy = FaultProxy(upstream, **options).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def faulty(proxies, upstream, seed):
    return proxies(upstream, seed=seed, fail_rate=FAIL_RATE, reset_rate=RESET_RATE)


def assert_survived(result, *used_proxies):
    assert result.get("failed") is not True, result["msg"]
    assert result["stats"]["failed"] == 0 and result["stats"]["copied"] == len(SMALL_SET), result["msg"]
    injected = sum((proxy.faults for proxy in used_proxies), start=collections.Counter())
    # Every fault the proxies injected was answered by exactly one retry, and nothing else was retried,
    # but for an error answer cut half way through its body (its status, a 404, is final already) and
    # for a fault on the best-effort DELETE that cancels a failed upload session (never retried: the
    # session expires by itself, and the failure that led to it is what gets retried).
    unretried = [(request.method, request.path, request.outcome) for proxy in used_proxies
                 for request in proxy.requests
                 if (request.outcome == "reset-response" and request.status >= 400)
                 or (request.method == "DELETE" and request.outcome not in ("forwarded", "redirect", "held"))]
    assert result["stats"]["retries"] == sum(injected.values()) - len(unretried), (
        result["stats"]["retries"], injected, unretried)
    assert injected["503"] + injected["429"] > 0, injected
    assert injected["reset-request"] + injected["reset-response"] > 0, injected


def test_the_proxy_turns_a_tls_handshake_away_at_once(proxies):
    """Clients that try HTTPS first (tls_verify: false) must get an answer, not a 10 s wait."""
    proxy = proxies("127.0.0.1:9")
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as connection, \
            pytest.raises(ssl.SSLError):
        context.wrap_socket(connection)


def test_mirror_through_faults_copies_every_digest(source, registry_factory, proxies):
    source_registry, images = source
    destination = registry_factory()
    source_proxy = faulty(proxies, source_registry.host, seed=11)
    destination_proxy = faulty(proxies, destination.host, seed=12)

    result = run_module("hangar_mirror", dict(
        images=references(source_proxy.host, images), registry=destination_proxy.host, tls_verify=False,
        source_tls_verify=False, **ALL_PLATFORMS))

    assert_survived(result, source_proxy, destination_proxy)
    assert_registry_holds(destination, images)
    faulted = {(r.method, r.path.split("/")[-2]) for r in destination_proxy.requests if r.outcome != "forwarded"}
    assert ("PUT", "uploads") in faulted and ("PUT", "manifests") in faulted, faulted
    assert destination_proxy.faults["reset-request"] > 0, "no upload was cut half way: %s" % destination_proxy.faults


def test_save_then_load_through_faults_keep_every_digest(source, registry_factory, proxies, tmp_path):
    source_registry, images = source
    destination = registry_factory()
    source_proxy = faulty(proxies, source_registry.host, seed=21)
    destination_proxy = faulty(proxies, destination.host, seed=22)
    archive = str(tmp_path / "small.zip")

    saved = run_module("hangar_save", dict(images=references(source_proxy.host, images), archive=archive,
                                           tls_verify=False, **ALL_PLATFORMS))

    assert_survived(saved, source_proxy)
    assert source_proxy.faults["reset-response"] > 0, "no download was cut half way: %s" % source_proxy.faults
    assert_archive_holds(archive, source_proxy.host, images)

    loaded = run_module("hangar_load", dict(archive=archive, registry=destination_proxy.host, tls_verify=False,
                                            **ALL_PLATFORMS))

    assert_survived(loaded, destination_proxy)
    assert_registry_holds(destination, images)


# -- a registry that stays down


def failed_references(result):
    """The references of the images that failed. (The result's own `failed` key is overwritten by
    fail_json's `failed: true`, so the list of failed lines is only in failed_file.)"""
    return sorted(image["reference"] for image in result["images"] if image["status"] == "failed")


def test_mirror_to_a_registry_that_stays_down_fails_those_images_and_a_rerun_completes(
        source, registry_factory, proxies, tmp_path):
    source_registry, images = source
    healthy, broken = registry_factory(), registry_factory()
    down = proxies(broken.host)
    down.down = True
    repositories = sorted(images)
    to_broken = ["%s/%s %s/%s %s" % (source_registry.host, repo, down.host, repo, SMALL_TAG)
                 for repo in repositories[:2]]
    to_healthy = ["%s/%s %s/%s %s" % (source_registry.host, repo, healthy.host, repo, SMALL_TAG)
                  for repo in repositories[2:]]
    image_list = tmp_path / "mirror.txt"
    image_list.write_text("\n".join(to_broken[:1] + to_healthy + to_broken[1:]) + "\n")
    failed_file = tmp_path / "failed.txt"
    args = dict(tls_verify=False, source_tls_verify=False, failed_file=str(failed_file), **ALL_PLATFORMS)

    result = run_module("hangar_mirror", dict(args, file=str(image_list)))

    assert result["failed"] is True
    assert failed_references(result) == references(source_registry.host, repositories[:2])
    assert sorted(failed_file.read_text().splitlines()) == sorted(to_broken)
    by_status = {image["reference"]: image for image in result["images"]}
    for repo in repositories[:2]:
        failure = by_status["%s/%s:%s" % (source_registry.host, repo, SMALL_TAG)]
        assert failure["status"] == "failed"
        assert down.host in failure["error"] and "503" in failure["error"], failure["error"]
    for repo in repositories[2:]:
        assert by_status["%s/%s:%s" % (source_registry.host, repo, SMALL_TAG)]["status"] == "copied"
    assert_registry_holds(healthy, {repo: images[repo] for repo in repositories[2:]})
    # Bounded: the first image's probe of the registry tried RetryPolicy().attempts times, the second
    # image (the registry known to be down by then) once; nothing else reached the proxy.
    assert [(r.method, r.path) for r in down.requests] == [("GET", "/v2/")] * (ATTEMPTS + 1), down.requests

    down.down = False
    rerun = run_module("hangar_mirror", dict(args, file=str(failed_file)))

    assert rerun.get("failed") is not True, rerun["msg"]
    assert rerun["stats"]["copied"] == 2
    assert_registry_holds(broken, {repo: images[repo] for repo in repositories[:2]})


def test_save_from_a_registry_that_stays_down_keeps_the_rest_and_a_rerun_completes(
        source, proxies, tmp_path):
    source_registry, images = source
    down = proxies(source_registry.host)
    down.down = True
    repositories = sorted(images)
    unreachable = references(down.host, repositories[:2])
    reachable = references(source_registry.host, repositories[2:])
    archive = str(tmp_path / "partial.zip")
    failed_file = tmp_path / "failed.txt"
    args = dict(archive=archive, tls_verify=False, failed_file=str(failed_file), **ALL_PLATFORMS)

    result = run_module("hangar_save", dict(args, images=unreachable + reachable))

    assert result["failed"] is True
    assert failed_references(result) == sorted(unreachable)
    assert sorted(failed_file.read_text().splitlines()) == sorted(unreachable)
    for image in result["images"]:
        if image["status"] == "failed":
            assert down.host in image["error"] and "503" in image["error"], image["error"]
    assert archive_sources(archive) == sorted(reachable)
    # Bounded: the first unreachable image's probe tried RetryPolicy().attempts times, the second once.
    assert [(r.method, r.path) for r in down.requests] == [("GET", "/v2/")] * (ATTEMPTS + 1), down.requests

    down.down = False
    rerun = run_module("hangar_save", dict(args, file=str(failed_file)))

    assert rerun.get("failed") is not True, rerun["msg"]
    assert_archive_holds(archive, down.host, {repo: images[repo] for repo in repositories[:2]})
    assert_archive_holds(archive, source_registry.host, {repo: images[repo] for repo in repositories[2:]})


def test_load_into_a_registry_that_resets_every_connection_fails_every_image_and_a_rerun_completes(
        source, registry_factory, proxies, tmp_path):
    source_registry, images = source
    archive = str(tmp_path / "small.zip")
    saved = run_module("hangar_save", dict(images=references(source_registry.host, images), archive=archive,
                                           tls_verify=False, **ALL_PLATFORMS))
    assert saved.get("failed") is not True, saved["msg"]
    destination = registry_factory()
    down = proxies(destination.host)
    down.down = "reset"
    args = dict(archive=archive, registry=down.host, tls_verify=False, **ALL_PLATFORMS)

    result = run_module("hangar_load", args)

    assert result["failed"] is True
    assert failed_references(result) == sorted(references(source_registry.host, images))
    for image in result["images"]:
        assert image["status"] == "failed"
        assert down.host in image["error"], image["error"]
    assert down.faults["down"] > 0
    print("DOWN", dict(down.faults), [(r.method, r.path) for r in down.requests])

    down.down = False
    rerun = run_module("hangar_load", args)

    assert rerun.get("failed") is not True, rerun["msg"]
    assert rerun["stats"]["copied"] == len(images)
    assert_registry_holds(destination, images)


# -- Retry-After and cut reads, with exact faults


def test_a_429_is_retried_no_sooner_than_its_retry_after(registry_factory, client_for, image_factory, proxies):
    """The proxy answers the first read of each manifest 429 with Retry-After: 2; its log of arrival times
    shows each retry came at least 2 s after the 429 (a client ignoring the header waits at most 0.5 s)."""
    source = registry_factory()
    image = image_factory.docker_image()
    image.push(client_for(source), "paced/app", "1.0")
    destination = registry_factory()

    def first_manifest_read_429(method, path, occurrence):
        return "429" if occurrence == 0 and method == "GET" and "/manifests/" in path else None

    proxy = proxies(source.host, script=first_manifest_read_429, retry_after=str(RETRY_AFTER))

    result = run_module("hangar_mirror", dict(images=["%s/paced/app:1.0" % proxy.host], registry=destination.host,
                                              tls_verify=False, source_tls_verify=False, **ALL_PLATFORMS))

    assert result.get("failed") is not True, result["msg"]
    assert result["stats"]["retries"] == proxy.faults["429"] >= 1, (result["stats"], proxy.faults)
    throttled = [r for r in proxy.requests if r.outcome == "429"]
    for answer in throttled:
        retry = min((r for r in proxy.requests if r.key == answer.key and r.time > answer.time),
                    key=lambda r: r.time)
        assert retry.outcome == "forwarded"
        assert retry.time - answer.time >= RETRY_AFTER, (answer.path, retry.time - answer.time)
    assert_registry_holds(destination, {"paced/app": image})


def test_a_small_blob_read_cut_half_way_is_read_again(registry_factory, client_for, image_factory, proxies, tmp_path):
    """A single-manifest image's config is read whole to learn its platform; a reset half way through that
    answer (or any blob's) is retried, not reported as the image's failure."""
    source = registry_factory()
    image = image_factory.docker_image()
    image.push(client_for(source), "cut/app", "1.0")

    def first_blob_read_cut(method, path, occurrence):
        return "reset-response" if occurrence == 0 and method == "GET" and "/blobs/sha256:" in path else None

    proxy = proxies(source.host, script=first_blob_read_cut)
    archive = str(tmp_path / "cut.zip")

    result = run_module("hangar_save", dict(images=["%s/cut/app:1.0" % proxy.host], archive=archive,
                                            tls_verify=False, **ALL_PLATFORMS))

    assert result.get("failed") is not True, result["msg"]
    assert proxy.faults["reset-response"] == len(image.blobs), proxy.faults
    assert result["stats"]["retries"] == len(image.blobs)
    reads = collections.defaultdict(list)
    for request in sorted(proxy.requests, key=lambda r: r.time):
        if request.method == "GET" and "/blobs/" in request.path:
            reads[request.path.rsplit("/", 1)[1]].append(request.outcome)
    assert {digest: outcomes[:2] for digest, outcomes in reads.items()} == {
        digest: ["reset-response", "forwarded"] for digest in image.blobs}, reads
    assert_archive_holds(archive, proxy.host, {"cut/app": image})


def test_an_error_answer_cut_half_way_is_not_retried(registry_factory, proxies):
    """A 404 whose body breaks off is still a 404: read whole (not streamed) or streamed, it is final, and
    sending the request again would only cost a retry."""
    from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient

    registry = registry_factory()

    def cut_answers(method, path, occurrence):
        return "reset-response" if method == "GET" and ("/referrers/" in path or "/manifests/" in path) else None

    proxy = proxies(registry.host, script=cut_answers)
    with RegistryClient(proxy.host, tls_verify=False) as client:
        assert client.list_referrers("cut/app", "sha256:" + "0" * 64) is None  # read whole
        with pytest.raises(NotFoundError):
            client.get_manifest("cut/app", "1.0")  # streamed
        assert client.stats.retries == 0
    cut = [(r.method, r.path.split("/")[-2], r.status) for r in proxy.requests if r.outcome == "reset-response"]
    assert cut == [("GET", "referrers", 404), ("GET", "manifests", 404)], proxy.requests
