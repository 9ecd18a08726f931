"""Retry budgets under faults, at the engine: a pool of 8 blob workers through a fault proxy copies every
digest with the retries counted exactly, run after run; a destination that keeps failing a blob's upload
stops at the blob's budget, and one that fails everything stops at the image's, each with a message
naming the budget that ran out, after exactly that many retries."""

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._copy.engine import CopyEngine, run_parallel
from ansible_collections.airgap.hangar.plugins.module_utils._copy.mirror_plan import plan_mirror
from ansible_collections.airgap.hangar.plugins.module_utils._copy.model import FAILED, CopyOptions
from ansible_collections.airgap.hangar.plugins.module_utils._copy.registry_store import RegistryStore
from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.airgap.hangar.plugins.module_utils._registry.retry import RetryPolicy
from tests.support.fault_proxy import FaultProxy
from tests.support.image_sets import SMALL_SET, assert_registry_holds, push_small_set, references

BLOB_JOBS = 8
# Per-request and per-transfer caps out of reach: only the budgets stop the retries.
UNCAPPED_RETRY = RetryPolicy(attempts=100, base_delay=0.01, max_delay=0.05)
UPLOAD_PUT = r"^/v2/.+/blobs/uploads/.+"


def mirror(source_host, images, destination_host, options, retry=None, jobs=4):
    """The engine as hangar_mirror drives it, one client per side: (results, the retries counted, as the run's
    stats count them: both clients' and the engine's whole-blob retries)."""
    results = plan_mirror(references(source_host, images), registry=destination_host)
    with RegistryClient(source_host, tls_verify=False, retry=retry) as source_client, \
            RegistryClient(destination_host, tls_verify=False, retry=retry) as destination_client, \
            CopyEngine(options, blob_retry=retry or RetryPolicy()) as engine:
        source, destination = RegistryStore(source_client), RegistryStore(destination_client)
        run_parallel(results, lambda r: engine.copy_image(source, r.source_ref, destination, r.dest_ref, r), jobs)
        retries = source_client.stats.retries + destination_client.stats.retries + engine.retries
    return results, retries


def never_retried(*proxies):
    """Faults the client answers without a retry, by design: an error answer cut half way (its status is
    final) and a fault on the best-effort DELETE cancelling an upload session."""
    return [request for proxy in proxies for request in proxy.requests
            if (request.outcome == "reset-response" and request.status >= 400)
            or (request.method == "DELETE" and request.outcome not in ("forwarded", "redirect", "held"))]


@pytest.mark.parametrize("run", range(5))
def test_a_pool_of_8_blob_workers_through_faults_copies_every_digest(
        run, registry_factory, client_for, image_factory, tmp_path):
    source_registry, destination = registry_factory(), registry_factory()
    images = push_small_set(client_for(source_registry), image_factory)
    with FaultProxy(source_registry.host, seed=300 + run, fail_rate=0.10, reset_rate=0.05) as source_proxy, \
            FaultProxy(destination.host, seed=400 + run, fail_rate=0.10, reset_rate=0.05) as destination_proxy:
        results, retries = mirror(source_proxy.host, images, destination_proxy.host, CopyOptions(blob_jobs=BLOB_JOBS))

    assert [(r.status, r.error) for r in results] == [("copied", None)] * len(SMALL_SET)
    assert_registry_holds(destination, images)
    injected = source_proxy.faults + destination_proxy.faults
    assert injected["503"] + injected["429"] > 0 and injected["reset-request"] + injected["reset-response"] > 0
    assert retries == sum(injected.values()) - len(never_retried(source_proxy, destination_proxy)), (
        retries, injected)


def failing_puts(method, path, occurrence):
    """Every blob upload's PUT answered 503 (after its body was sent): each try of the blob is a whole-blob
    retry; and every upload session's POST answered 503 twice before it opens."""
    if method == "PUT" and "/blobs/uploads/" in path:
        return "503"
    if method == "POST" and path.endswith("/blobs/uploads/") and occurrence % 3 < 2:
        return "503"
    return None


def test_a_blob_that_keeps_failing_stops_at_its_retry_budget(registry_factory, client_for, image_factory):
    source, destination = registry_factory(), registry_factory()
    image = image_factory.image(layer_sizes=(64 * 1024,))
    image.push(client_for(source), "budget/blob", "1.0")
    # One blob worker: the config, then the layer; each blob has 5 retries, the image enough for both.
    options = CopyOptions(blob_jobs=1, blob_retries=5, image_retries=100)
    with FaultProxy(destination.host, script=failing_puts) as proxy:
        results, retries = mirror(source.host, {"budget/blob": image}, proxy.host, options, retry=UNCAPPED_RETRY,
                                  jobs=1)

    (result,) = results
    assert result.status == FAILED
    assert "gave up after 5 retries for blob sha256:" in result.error, result.error
    assert "of %s/budget/blob:1.0 (its retry budget)" % source.host in result.error, result.error
    assert any("blob %s of" % digest in result.error for digest in image.blob_digests), result.error
    # Each blob took exactly its budget (POST retries and whole-blob retries together), and the fault
    # after that was refused: one fault per blob was not retried.
    blobs = len(image.blob_digests)
    assert retries == 5 * blobs, retries
    assert sum(proxy.faults.values()) == retries + blobs, proxy.faults


def test_an_image_whose_blobs_all_fail_stops_at_the_image_budget(registry_factory, client_for, image_factory):
    source, destination = registry_factory(), registry_factory()
    image = image_factory.image(layer_sizes=(64 * 1024, 32 * 1024, 16 * 1024))
    image.push(client_for(source), "budget/image", "1.0")
    options = CopyOptions(blob_jobs=BLOB_JOBS, blob_retries=100, image_retries=7)
    with FaultProxy(destination.host, script=failing_puts) as proxy:
        results, retries = mirror(source.host, {"budget/image": image}, proxy.host, options, retry=UNCAPPED_RETRY,
                                  jobs=1)

    (result,) = results
    assert result.status == FAILED
    assert "gave up after 7 retries for image %s/budget/image:1.0 (its retry budget)" % source.host in result.error, \
        result.error
    # The image's blobs, copied side by side, took 7 retries in all; then each blob's next fault was refused.
    assert retries == 7
    assert sum(proxy.faults.values()) == retries + len(image.blob_digests), proxy.faults
