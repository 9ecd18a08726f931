# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one retry policy for HTTP requests (private module_utils, no Ansible imports).

Transient faults (connection errors, timeouts, 408, 429, 500, 502, 503, 504) are retried with
exponential backoff and full jitter, a bounded number of times; `Retry-After` (seconds or an HTTP
date) is honoured. A 5xx whose registry error code names a problem with the request itself
(MANIFEST_BLOB_UNKNOWN, DIGEST_INVALID, ...) is final: sending it again cannot help.

Besides the per-request cap (RetryPolicy.attempts), retries draw from retry budgets: a RetryBudget counts the
retries of everything done for one thing (a blob: its GET, resumes, POST, PUT and whole-blob retries; an image:
those of its blobs, manifests and tags), and a budget with a parent draws from it too. The budget in force is
the thread's (retry_budget_scope), as the deadline is (transport.deadline_scope), so every request a copy
makes on that thread draws from it. When one runs out, RetryBudgetExhausted names it instead of a retry.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

from .._errors import HangarError
from .._requirements import requests
from .thread_scope import ThreadScope

RETRY_STATUSES = frozenset((408, 429, 500, 502, 503, 504))

# Registry error codes (distribution spec) that describe the request, not the server's health.
PERMANENT_ERROR_CODES = frozenset((
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "MANIFEST_UNVERIFIED", "NAME_INVALID", "NAME_UNKNOWN",
    "SIZE_INVALID", "TAG_INVALID", "UNSUPPORTED", "UNAUTHORIZED", "DENIED",
))


def is_transient_error(exc):
    """Connection resets, refused connections and timeouts; never a TLS failure or our own errors."""
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                            requests.exceptions.ChunkedEncodingError))


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (delta seconds or HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # requests imports it anyway; a run that sends no request does not

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RetryBudgetExhausted(HangarError):
    """A retry budget ran out: the failure that wanted one more retry is final. `budget` is the one that ran out."""

    def __init__(self, message, budget):
        self.budget = budget
        super().__init__(message)


_BUDGET_LOCK = threading.Lock()  # one for all budgets: a retry takes from a blob's and its image's at once
_budgets = ThreadScope()


class RetryBudget:
    """At most `limit` retries for `what` ("blob sha256:... of IMAGE", "image IMAGE"), shared by threads.

    A retry taken from a budget with a parent is taken from the parent as well, and is granted only when
    every budget up the chain has one left, so the retries of an image's blobs also spend the image's.
    """

    def __init__(self, limit, what, parent=None):
        self.limit = limit
        self.what = what
        self.parent = parent
        self.used = 0

    def _chain(self):
        budget = self
        while budget is not None:
            yield budget
            budget = budget.parent

    def take(self):
        """One retry: None when granted (counted in this budget and every parent), else the budget that
        ran out (this one or a parent), and nothing is counted."""
        with _BUDGET_LOCK:
            chain = list(self._chain())
            for budget in chain:
                if budget.used >= budget.limit:
                    return budget
            for budget in chain:
                budget.used += 1
        return None

    def spend(self, cause):
        """take(), raising RetryBudgetExhausted for `cause` (the failure that wanted a retry) when refused."""
        refused = self.take()
        if refused is not None:
            raise RetryBudgetExhausted("%s; gave up after %d retries for %s (its retry budget)"
                                       % (cause, refused.limit, refused.what), refused)

    def __repr__(self):
        return "RetryBudget(%r, used %d of %d)" % (self.what, self.used, self.limit)


def retry_budget_scope(budget):
    """Make `budget` the one every retry of this thread draws from meanwhile (None: only per-request caps)."""
    return _budgets.bound(budget)


def current_retry_budget():
    return _budgets.current()


def spend_retry(cause):
    """One retry from this thread's budget, if it has one; RetryBudgetExhausted naming `cause` when it ran out."""
    budget = current_retry_budget()
    if budget is not None:
        budget.spend(cause)


@dataclass(frozen=True)
class RetryPolicy:
    """attempts counts the first try; delays grow as base_delay * 2**n up to max_delay, with full jitter.

    A Retry-After asks for a wait of its own, bounded by max_retry_after so a registry cannot park
    a transfer for hours.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    sleep: object = field(default=time.sleep, compare=False, repr=False)
    jitter: object = field(default=random.random, compare=False, repr=False)

    def is_retryable_status(self, status, error_codes=()):
        if status not in RETRY_STATUSES:
            return False
        return not any(code in PERMANENT_ERROR_CODES for code in error_codes)

    def delay(self, retry_number, retry_after=None):
        """The wait before retry number `retry_number` (1 for the first retry)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (retry_number - 1)))
        return ceiling * self.jitter()

    def call(self, attempt, what, log=None, on_retry=None, error_codes=None):
        """Run attempt() until its response is final, it raises a non-transient error, or attempts run out.

        attempt() returns a response (status_code, headers, close()) or raises. The last response is
        returned whatever its status, so the caller can report the registry's own message; the last
        transient exception is raised. what names the request in log lines ("GET /v2/x/manifests/1"):
        it must never carry a credential. error_codes(response) gives the registry error codes of a
        response, so that a 5xx naming a permanent problem is not retried. Each retry draws from the
        thread's retry budget (retry_budget_scope); RetryBudgetExhausted is raised when it ran out.
        """
        for number in range(1, self.attempts + 1):
            try:
                response = attempt()
            except Exception as exc:
                if number == self.attempts or not is_transient_error(exc):
                    raise
                cause = describe_transient_error(exc)
                spend_retry_or_raise(what, cause, exc)
                wait = self.delay(number)
            else:
                codes = error_codes(response) if error_codes and response.status_code in RETRY_STATUSES else ()
                if number == self.attempts or not self.is_retryable_status(response.status_code, codes):
                    return response
                cause = "HTTP %d" % response.status_code
                wait = self.delay(number, parse_retry_after(response.headers.get("Retry-After")))
                response.close()
                spend_retry_or_raise(what, cause)
            if log is not None:
                log("Retrying %s after %s (attempt %d of %d failed; next in %.1fs)"
                    % (what, cause, number, self.attempts, wait))
            if on_retry is not None:
                on_retry()
            self.sleep(wait)
        raise AssertionError("unreachable: attempts must be at least 1")  # pragma: no cover


def spend_retry_or_raise(what, cause, exc=None):
    """spend_retry for `what` failing with `cause`; the budget's error is raised from `exc`, the failure."""
    try:
        spend_retry("%s: %s" % (what, cause))
    except RetryBudgetExhausted as exhausted:
        raise exhausted from exc


def exception_chain(exc):
    """exc and the exceptions under it: requests and urllib3 keep the real cause in `reason`,
    in args[0] or as __cause__."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        reason = getattr(exc, "reason", None)
        nested = reason if isinstance(reason, BaseException) else None
        if nested is None and exc.args and isinstance(exc.args[0], BaseException):
            nested = exc.args[0]
        exc = nested or exc.__cause__ or exc.__context__


def describe_transient_error(exc):
    """A short cause for a connection-level failure, without the URL noise requests wraps around it."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer in time (read timeout)"
    for inner in exception_chain(exc):
        if isinstance(inner, OSError) and inner.strerror:
            return inner.strerror
    text = str(exc)
    if "Name or service not known" in text or "NameResolutionError" in text or "nodename nor servname" in text:
        return "host name not resolved"
    if "Connection refused" in text:
        return "connection refused"
    if "Connection reset" in text or "RemoteDisconnected" in text or "Connection aborted" in text:
        return "connection closed by the server"
    return exc.__class__.__name__
