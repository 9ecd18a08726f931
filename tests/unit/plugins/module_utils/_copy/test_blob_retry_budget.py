"""The engine's whole-blob retries draw from the blob's retry budget (and so its image's), are counted in
the run's retries, and stop with a message naming the budget."""

import io

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._copy.engine import CopyEngine
from ansible_collections.airgap.hangar.plugins.module_utils._copy.model import CopyOptions
from ansible_collections.airgap.hangar.plugins.module_utils._errors import RegistryError
from ansible_collections.airgap.hangar.plugins.module_utils._registry.retry import (
    RetryBudget,
    RetryBudgetExhausted,
    RetryPolicy,
    retry_budget_scope,
)


def quick_policy(attempts=5):
    return RetryPolicy(attempts=attempts, sleep=lambda seconds: None, jitter=lambda: 0.0)


class Source:
    def __init__(self, data):
        self.data = data
        self.opened = 0

    def open_blob(self, ref, digest, size):
        self.opened += 1
        return _Opened(io.BytesIO(self.data))


class _Opened:
    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        return self.stream

    def __exit__(self, *exc):
        return False


class BreakingDestination:
    """Reads a little of every upload, then the connection breaks (a flowing transfer, retried whole)."""

    def __init__(self):
        self.tries = 0

    def put_blob(self, ref, descriptor, reader):
        self.tries += 1
        reader.read(4)
        raise RegistryError("Error pushing blob: cannot reach registry: connection reset", registry="reg")


class FakeDeadline:
    def check(self, doing="copying"):
        pass


def test_whole_blob_retries_draw_from_the_blob_budget_and_are_counted():
    source, destination = Source(b"0123456789"), BreakingDestination()
    descriptor = {"digest": "sha256:" + "a" * 64, "size": 10}
    budget = RetryBudget(2, "blob %s of reg/app:1" % descriptor["digest"], parent=RetryBudget(30, "image reg/app:1"))
    with CopyEngine(CopyOptions(blob_jobs=1), blob_retry=quick_policy(attempts=5)) as engine, \
            retry_budget_scope(budget), pytest.raises(RetryBudgetExhausted) as raised:
        engine._transfer_blob(source, "reg/app:1", destination, "dest/app:1", descriptor, {}, FakeDeadline())
    assert destination.tries == source.opened == 3  # the first try and 2 retries, not the 5 attempts of the cap
    assert engine.retries == 2 and budget.used == 2 and budget.parent.used == 2
    assert str(raised.value).startswith("Error copying blob %s of reg/app:1: Error pushing blob" % descriptor["digest"])
    assert str(raised.value).endswith("gave up after 2 retries for blob %s of reg/app:1 (its retry budget)"
                                      % descriptor["digest"])
    assert isinstance(raised.value.__cause__, RegistryError)


def test_under_a_large_budget_the_per_transfer_cap_still_holds():
    source, destination = Source(b"0123456789"), BreakingDestination()
    descriptor = {"digest": "sha256:" + "b" * 64, "size": 10}
    budget = RetryBudget(100, "blob %s of reg/app:1" % descriptor["digest"])
    with CopyEngine(CopyOptions(blob_jobs=1), blob_retry=quick_policy(attempts=5)) as engine, \
            retry_budget_scope(budget), pytest.raises(RegistryError) as raised:
        engine._transfer_blob(source, "reg/app:1", destination, "dest/app:1", descriptor, {}, FakeDeadline())
    assert not isinstance(raised.value, RetryBudgetExhausted)
    assert destination.tries == 5 and engine.retries == 4 and budget.used == 4
