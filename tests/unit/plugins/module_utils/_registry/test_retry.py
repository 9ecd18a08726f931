"""The retry policy: which outcomes are retried, how long it waits, what it logs."""

import contextlib
import email.utils
import socket
import time

import pytest
import requests

from ansible_collections.airgap.hangar.plugins.module_utils._errors import NotFoundError
from ansible_collections.airgap.hangar.plugins.module_utils._registry.retry import (
    RetryPolicy,
    describe_transient_error,
    is_transient_error,
    parse_retry_after,
)
from tests.support.fake_response import FakeResponse


def policy(**overrides):
    sleeps = []
    options = {"attempts": 5, "base_delay": 0.5, "max_delay": 8.0, "sleep": sleeps.append, "jitter": lambda: 1.0}
    options.update(overrides)
    return RetryPolicy(**options), sleeps


def scripted(outcomes):
    """attempt() that returns or raises the next outcome; records how often it was called."""
    calls = []

    def attempt():
        outcome = outcomes[len(calls)]
        calls.append(outcome)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return attempt, calls


@contextlib.contextmanager
def socket_without_listener():
    """A loopback port bound but not listening: connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


@pytest.mark.parametrize("status, codes, retried", [
    (408, (), True),
    (429, (), True),
    (500, (), True),
    (502, (), True),
    (503, (), True),
    (504, (), True),
    (500, ("UNKNOWN",), True),
    (503, ("UNAVAILABLE",), True),
    (500, ("UNKNOWN", "MANIFEST_BLOB_UNKNOWN"), False),
    (500, ("DIGEST_INVALID",), False),
    (400, (), False),
    (401, (), False),
    (403, (), False),
    (404, (), False),
    (409, (), False),
    (501, (), False),
])
def test_retryable_statuses(status, codes, retried):
    assert RetryPolicy().is_retryable_status(status, codes) is retried


@pytest.mark.parametrize("exc, transient", [
    (requests.exceptions.ConnectionError("reset"), True),
    (requests.exceptions.ConnectTimeout("slow"), True),
    (requests.exceptions.ReadTimeout("slow"), True),
    (requests.exceptions.ChunkedEncodingError("cut"), True),
    (requests.exceptions.SSLError("certificate verify failed"), False),
    (requests.exceptions.InvalidURL("bad"), False),
    (NotFoundError("gone", status=404), False),
    (ValueError("bug"), False),
])
def test_transient_errors(exc, transient):
    assert is_transient_error(exc) is transient


def test_parse_retry_after():
    now = time.time()
    in_ten_seconds = email.utils.formatdate(now + 10, usegmt=True)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0
    assert 8.0 <= parse_retry_after(in_ten_seconds, now=now) <= 10.0
    assert parse_retry_after(email.utils.formatdate(now - 100, usegmt=True), now=now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-3") is None


@pytest.mark.parametrize("retry_number, expected", [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)])
def test_delay_grows_exponentially_to_the_cap(retry_number, expected):
    assert policy()[0].delay(retry_number) == expected


def test_delay_has_full_jitter():
    assert policy(jitter=lambda: 0.25)[0].delay(3) == 0.5


def test_retry_after_is_honoured_within_a_bound():
    retry, _unused = policy(max_retry_after=30.0)
    assert retry.delay(1, retry_after=12.0) == 12.0
    assert retry.delay(1, retry_after=3600.0) == 30.0


def test_transient_statuses_are_retried_then_succeed():
    retry, sleeps = policy()
    lines, retried = [], []
    first, second, final = FakeResponse(503), FakeResponse(502), FakeResponse(200)
    attempt, calls = scripted([first, second, final])
    assert retry.call(attempt, "GET /v2/team/app/manifests/1.0", log=lines.append,
                      on_retry=lambda: retried.append(1)) is final
    assert len(calls) == 3 and len(retried) == 2
    assert first.closed and second.closed and not final.closed
    assert sleeps == [0.5, 1.0]
    assert lines[0] == "Retrying GET /v2/team/app/manifests/1.0 after HTTP 503 (attempt 1 of 5 failed; next in 0.5s)"
    assert "HTTP 502" in lines[1] and "attempt 2 of 5" in lines[1]


def test_retry_after_header_sets_the_wait():
    retry, sleeps = policy()
    attempt, _unused = scripted([FakeResponse(429, {"Retry-After": "3"}), FakeResponse(200)])
    assert retry.call(attempt, "GET /v2/").status_code == 200
    assert sleeps == [3.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_final_statuses_are_returned_at_once(status):
    retry, sleeps = policy()
    attempt, calls = scripted([FakeResponse(status), FakeResponse(200)])
    assert retry.call(attempt, "GET /v2/").status_code == status
    assert len(calls) == 1 and sleeps == []


def test_attempts_are_bounded_and_the_last_answer_returned():
    retry, sleeps = policy(attempts=3)
    attempt, calls = scripted([FakeResponse(500), FakeResponse(500), FakeResponse(500), FakeResponse(200)])
    last = retry.call(attempt, "PUT /v2/a/manifests/1")
    assert last.status_code == 500 and not last.closed
    assert len(calls) == 3 and len(sleeps) == 2


def test_a_5xx_naming_a_permanent_problem_is_not_retried():
    retry, sleeps = policy()
    attempt, calls = scripted([FakeResponse(500), FakeResponse(201)])
    answer = retry.call(attempt, "PUT /v2/a/manifests/1", error_codes=lambda response: ["MANIFEST_BLOB_UNKNOWN"])
    assert answer.status_code == 500 and len(calls) == 1 and sleeps == []


def test_connection_errors_are_retried_and_the_last_one_raised():
    retry, sleeps = policy(attempts=2)
    attempt, calls = scripted([requests.exceptions.ConnectionError("a"), requests.exceptions.ConnectionError("b")])
    with pytest.raises(requests.exceptions.ConnectionError, match="b"):
        retry.call(attempt, "GET /v2/")
    assert len(calls) == 2 and len(sleeps) == 1


def test_a_connection_error_then_success():
    retry, _unused = policy()
    lines = []
    attempt, _unused = scripted([requests.exceptions.ReadTimeout("slow"), FakeResponse(200)])
    assert retry.call(attempt, "GET /v2/x/blobs/sha256:1", log=lines.append).status_code == 200
    assert lines == ["Retrying GET /v2/x/blobs/sha256:1 after no answer in time (read timeout) "
                     "(attempt 1 of 5 failed; next in 0.5s)"]


def test_non_transient_errors_are_raised_at_once():
    retry, sleeps = policy()
    attempt, calls = scripted([requests.exceptions.SSLError("certificate verify failed"), FakeResponse(200)])
    with pytest.raises(requests.exceptions.SSLError):
        retry.call(attempt, "GET /v2/")
    assert len(calls) == 1 and sleeps == []


def test_a_single_attempt_policy_never_waits():
    retry, sleeps = policy(attempts=1)
    attempt, _unused = scripted([FakeResponse(503)])
    assert retry.call(attempt, "GET /v2/").status_code == 503
    assert sleeps == []


def test_describe_a_refused_connection():
    with socket_without_listener() as port, pytest.raises(requests.exceptions.ConnectionError) as caught:
        requests.get("http://127.0.0.1:%d/v2/" % port, timeout=5)
    assert describe_transient_error(caught.value) == "Connection refused"


def test_describe_timeouts():
    assert describe_transient_error(requests.exceptions.ConnectTimeout("x")) == "connection timed out"
    assert describe_transient_error(requests.exceptions.ReadTimeout("x")) == "no answer in time (read timeout)"
