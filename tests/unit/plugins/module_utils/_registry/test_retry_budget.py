"""Retry budgets: a blob's retries and its image's, drawn by every retry on the thread that holds them."""

import threading

import pytest
import requests

from ansible_collections.airgap.hangar.plugins.module_utils._registry.retry import (
    RetryBudget,
    RetryBudgetExhausted,
    RetryPolicy,
    current_retry_budget,
    retry_budget_scope,
    spend_retry,
)
from tests.support.fake_response import FakeResponse


def quick_policy(attempts=5):
    return RetryPolicy(attempts=attempts, sleep=lambda seconds: None, jitter=lambda: 0.0)


def test_a_budget_grants_its_limit_then_names_itself():
    budget = RetryBudget(3, "blob sha256:abc of reg/app:1")
    assert [budget.take() for _unused in range(4)] == [None, None, None, budget]
    assert budget.used == 3
    with pytest.raises(RetryBudgetExhausted) as raised:
        budget.spend("GET /v2/app/blobs/sha256:abc: HTTP 503")
    assert str(raised.value) == ("GET /v2/app/blobs/sha256:abc: HTTP 503; gave up after 3 retries for "
                                 "blob sha256:abc of reg/app:1 (its retry budget)")
    assert raised.value.budget is budget


def test_a_blob_draws_from_its_image_and_the_image_stops_every_blob():
    image = RetryBudget(3, "image reg/app:1")
    first, second = (RetryBudget(10, "blob %d" % n, parent=image) for n in (1, 2))
    assert first.take() is None and first.take() is None and second.take() is None
    assert (image.used, first.used, second.used) == (3, 2, 1)
    assert first.take() is image and second.take() is image
    # A refused retry is counted nowhere.
    assert (image.used, first.used, second.used) == (3, 2, 1)


def test_a_refusal_by_the_blob_leaves_the_image_budget_to_the_others():
    image = RetryBudget(10, "image reg/app:1")
    blob = RetryBudget(1, "blob 1", parent=image)
    assert blob.take() is None and blob.take() is blob
    assert image.used == 1


def test_threads_sharing_an_image_budget_get_exactly_its_limit():
    image = RetryBudget(50, "image reg/app:1")
    granted = []

    def worker():
        blob = RetryBudget(1000, "blob", parent=image)
        granted.append(sum(1 for _unused in range(100) if blob.take() is None))

    threads = [threading.Thread(target=worker) for _unused in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 50 and image.used == 50


def test_the_scope_is_per_thread_and_restored():
    budget, inner = RetryBudget(1, "image a"), RetryBudget(1, "image b")
    seen = []
    with retry_budget_scope(budget):
        with retry_budget_scope(inner):
            assert current_retry_budget() is inner
        assert current_retry_budget() is budget
        thread = threading.Thread(target=lambda: seen.append(current_retry_budget()))
        thread.start()
        thread.join()
    assert current_retry_budget() is None and seen == [None]
    spend_retry("no budget in scope: nothing to spend")


def test_a_policy_retries_within_the_budget_and_counts_only_what_it_retried():
    responses = [FakeResponse(503) for _unused in range(5)]
    retried = []
    with retry_budget_scope(RetryBudget(2, "blob sha256:abc of reg/app:1")), \
            pytest.raises(RetryBudgetExhausted) as raised:
        quick_policy().call(lambda: responses[len(retried)], "GET /v2/app/blobs/sha256:abc",
                            on_retry=lambda: retried.append(1))
    assert len(retried) == 2  # the per-request cap (4 retries) was not reached: the budget came first
    assert responses[2].closed
    assert str(raised.value) == ("GET /v2/app/blobs/sha256:abc: HTTP 503; gave up after 2 retries for "
                                 "blob sha256:abc of reg/app:1 (its retry budget)")


def test_a_policy_keeps_its_per_request_cap_under_a_larger_budget():
    budget = RetryBudget(100, "image reg/app:1")
    calls = []

    def attempt():
        calls.append(1)
        raise requests.exceptions.ConnectionError("Connection reset by peer")

    with retry_budget_scope(budget), pytest.raises(requests.exceptions.ConnectionError):
        quick_policy(attempts=5).call(attempt, "GET /v2/")
    assert len(calls) == 5 and budget.used == 4


def test_a_connection_error_refused_by_the_budget_keeps_its_cause():
    def attempt():
        raise requests.exceptions.ConnectionError("Connection reset by peer")

    with retry_budget_scope(RetryBudget(0, "image reg/app:1")), pytest.raises(RetryBudgetExhausted) as raised:
        quick_policy().call(attempt, "GET /v2/")
    assert isinstance(raised.value.__cause__, requests.exceptions.ConnectionError)
    assert "gave up after 0 retries for image reg/app:1 (its retry budget)" in str(raised.value)
