# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP side of a registry client (private module_utils, no Ansible imports): one requests.Session,
the scheme probe, authorization with RegistryAuth, redirects, retries and the translation of HTTP
answers into our errors. RegistryClient (client.py) builds the distribution API on top of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import threading
from dataclasses import replace
from urllib.parse import urljoin, urlsplit

from .._errors import (
    AuthenticationError,
    HangarError,
    InputError,
    NotFoundError,
    RegistryError,
    TLSError,
)
from .._image.digest import DIGEST_RE
from .._image.reference import DOCKER_HUB, normalize_registry
from .._requirements import requests, urllib3
from .auth import RegistryAuth, basic_authorization, repository_scope
from .credentials import find_credentials
from .retry import (
    RETRY_STATUSES,
    RetryBudgetExhausted,
    RetryPolicy,
    describe_transient_error,
    exception_chain,
)
from .thread_scope import ThreadScope

DOCKER_HUB_API_HOST = "registry-1.docker.io"
REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
MAX_REDIRECTS = 10
PROBE_CONNECT_TIMEOUT = 10.0
USER_AGENT = "airgap.hangar"
# Bounds on what is read into memory, as containers/image (iolimits) has them: manifests, indexes and configs
# 4 MiB; registry error bodies are parsed up to 1 MiB; any other answer read whole (token answers, tag lists,
# catalogs) up to 16 MiB.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024
MAX_CONFIG_SIZE = 4 * 1024 * 1024
MAX_SMALL_BODY_SIZE = 1024 * 1024
MAX_ANSWER_SIZE = 16 * 1024 * 1024  # any other answer read whole (tag lists, catalogs)
READ_CHUNK = 64 * 1024
# What OpenSSL says when the bytes it got back for its ClientHello are not TLS at all: a plain-HTTP server's
# answer ("HTTP/1.1 400 ..."). Only then does tls_verify: false fall back to plain HTTP.
PLAIN_HTTP_ANSWER_REASONS = ("WRONG_VERSION_NUMBER", "wrong version number", "HTTP_REQUEST", "http request",
                             "record layer failure", "RECORD_LAYER_FAILURE", "packet length too long",
                             "UNKNOWN_PROTOCOL", "unknown protocol")

_deadlines = ThreadScope()


def deadline_scope(deadline):
    """Bound every request this thread makes meanwhile by `deadline` (an object with remaining() and
    check(doing)): its timeouts never go past it, and answers are read in pieces, checking it between them,
    so that a peer trickling its answer cannot hold the thread past the deadline."""
    return _deadlines.bound(deadline)


def current_deadline():
    return _deadlines.current()


def bounded_timeout(timeout, doing="sending a request"):
    """`timeout` (seconds or (connect, read)) cut to the time left of this thread's deadline; `doing`
    names the request in the error when no time is left."""
    deadline = current_deadline()
    if deadline is None:
        return timeout
    deadline.check(doing)
    left = max(0.5, deadline.remaining())
    if isinstance(timeout, tuple):
        return tuple(min(part, left) if part else left for part in timeout)
    return min(timeout, left) if timeout else left


def read_bounded(response, limit, what):
    """The body of a streamed response, at most `limit` bytes, read in pieces as they come (checking this
    thread's deadline between them); HangarError naming `what` when it is larger. The bytes are also kept as
    response.content, so that .json() and .text work after."""
    if getattr(response, "_content_consumed", False) and response._content is not None:
        content = response._content or b""
        if len(content) > limit:
            raise HangarError("Error reading %s: the answer is larger than %s" % (what, _size_text(limit)))
        return content
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        response.close()
        raise HangarError("Error reading %s: the answer is %s, larger than the %s allowed"
                          % (what, _size_text(int(length)), _size_text(limit)))
    parts, size = [], 0
    for chunk in iter_body(response, READ_CHUNK, what):
        size += len(chunk)
        if size > limit:
            response.close()
            raise HangarError("Error reading %s: the answer is larger than the %s allowed (the server kept sending)"
                              % (what, _size_text(limit)))
        parts.append(chunk)
    response._content = b"".join(parts)
    response._content_consumed = True
    release = getattr(response.raw, "release_conn", None)
    if release is not None:
        release()  # read to the end: the connection can serve the next request
    return response._content


def iter_body(response, chunk_size, what):
    """The body in pieces of at most chunk_size, each returned as soon as some bytes arrived (read1), so a
    deadline check between pieces bounds a trickling peer. A body shorter than its Content-Length raises
    ChunkedEncodingError, as a reset does."""
    deadline = current_deadline()
    length = response.headers.get("Content-Length", "")
    method = response.request.method if response.request is not None else None
    bodyless = response.status_code in (204, 304) or method == "HEAD"
    expected = int(length) if length.isdigit() and not bodyless and "Content-Encoding" not in response.headers \
        else None
    received = 0
    raw = response.raw
    reader = getattr(raw, "read1", None) or raw.read
    while True:
        if deadline is not None:
            deadline.check("reading " + what)
        try:
            chunk = reader(chunk_size, decode_content=True)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.exceptions.ConnectionError(exc, request=response.request) from exc
        except urllib3.exceptions.SSLError as exc:
            raise requests.exceptions.SSLError(exc, request=response.request) from exc
        except urllib3.exceptions.DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc, request=response.request) from exc
        except (urllib3.exceptions.ProtocolError, urllib3.exceptions.IncompleteRead, OSError) as exc:
            raise requests.exceptions.ChunkedEncodingError(exc, request=response.request) from exc
        if not chunk:
            if expected is not None and received < expected:
                # read1 ends quietly where the peer closed: a body cut short is a broken transfer (retried
                # or resumed like a reset), never a complete answer.
                raise requests.exceptions.ChunkedEncodingError(
                    urllib3.exceptions.IncompleteRead(received, expected - received), request=response.request)
            return
        received += len(chunk)
        yield chunk


def _size_text(size):
    return "%d MiB" % (size // (1024 * 1024)) if size % (1024 * 1024) == 0 else "%d bytes" % size


def answered_plain_http(exc):
    """Whether an HTTPS failure means the server answered the TLS handshake in plain HTTP."""
    if not isinstance(exc, requests.exceptions.SSLError):
        return False
    for inner in exception_chain(exc):
        if isinstance(inner, ssl.SSLError) and not isinstance(inner, ssl.SSLCertVerificationError):
            text = "%s %s" % (inner.reason or "", inner)
            if any(reason in text for reason in PLAIN_HTTP_ANSWER_REASONS):
                return True
    text = str(exc)
    return any(reason in text for reason in PLAIN_HTTP_ANSWER_REASONS)


class TransferStats:
    """Counters of one client, safe to update from several threads."""

    FIELDS = ("requests", "retries", "bytes_sent", "bytes_received", "blobs_uploaded", "blobs_mounted",
              "blobs_skipped", "resumes", "upload_resumes")

    def __init__(self):
        self._lock = threading.Lock()
        for name in self.FIELDS:
            setattr(self, name, 0)

    def add(self, name, amount=1):
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def as_dict(self):
        with self._lock:
            return {name: getattr(self, name) for name in self.FIELDS}

    def __repr__(self):
        return "TransferStats(%s)" % ", ".join("%s=%d" % item for item in self.as_dict().items())


def registry_errors(response):
    """The `errors` of a registry's JSON error body: a list of (code, message, detail) strings."""
    if response.request is not None and response.request.method == "HEAD":
        return []
    try:
        body = json.loads(read_bounded(response, MAX_SMALL_BODY_SIZE, "an error answer"))
    except (ValueError, UnicodeDecodeError, RuntimeError, RecursionError, HangarError):
        return []
    except requests.exceptions.RequestException:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    result = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            detail = error.get("detail")
            result.append((str(error.get("code") or "UNKNOWN"), str(error.get("message") or ""),
                           detail if isinstance(detail, str) else ""))
    return result


def error_codes(response):
    return [code for code, _unused, _unused in registry_errors(response)]


def _describe_errors(errors):
    """"CODE message: detail" for each error; a bare UNKNOWN is left out when a precise code is there."""
    precise = [error for error in errors if error[0] != "UNKNOWN"] or errors[:1]
    parts = []
    for code, message, detail in precise:
        text = ("%s %s" % (code, message)).strip()
        if detail:
            text += ": " + detail[:200]
        if text not in parts:
            parts.append(text)
    return "; ".join(parts)


def is_html(response):
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower() == "text/html"


def _origin(url):
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def _ssl_reason(exc):
    """(is it a certificate verification failure, a short reason) for a TLS failure."""
    for inner in exception_chain(exc):
        if isinstance(inner, ssl.SSLCertVerificationError):
            return True, inner.verify_message or "certificate verify failed"
        if isinstance(inner, ssl.SSLError):
            return False, inner.reason or str(inner)
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text, "TLS handshake failed"


class RegistryTransport:
    """Requests to one registry: session, scheme, authorization, retries, errors."""

    def __init__(self, registry, username=None, password=None, auth_file=None, tls_verify=True,
                 ca_path=None, pool_size=20, timeout=60.0, retry=None, log=None, option_prefix=""):
        if requests.import_error():
            raise HangarError("RegistryClient needs the Python library requests, which is not installed")
        self.registry = normalize_registry(registry)
        self.stats = TransferStats()
        self._host = DOCKER_HUB_API_HOST if self.registry == DOCKER_HUB else self.registry
        self._username = username
        self._tls_verify = tls_verify
        # The prefix of the options that set this client's TLS ("source_" for a source), for hints.
        self._option_prefix = option_prefix
        if ca_path and not os.path.exists(ca_path):
            raise InputError("Error using %sca_path %s: no such file or directory" % (option_prefix, ca_path))
        self._verify = (ca_path or True) if tls_verify else False
        if not tls_verify:
            # The user chose to skip verification; a warning on every request would only be noise.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._single_attempt = replace(self._retry, attempts=1)
        self._log = log
        self._session = _new_session(pool_size, self._host)
        self._auth = RegistryAuth(
            self.registry, lambda: find_credentials(self.registry, username, password, auth_file), self._fetch_token)
        self._base_url = None
        self._base_lock = threading.Lock()
        self._probe_retry = True  # False once a probe failed after its retries: later ones try once

    def __repr__(self):
        return "RegistryClient(registry=%r, username=%r, tls_verify=%r)" % (
            self.registry, self._username, self._tls_verify)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        self._session.close()

    # ---- names and URLs

    def _name(self, repo, ref=None):
        text = "%s/%s" % (self.registry, repo)
        if ref:
            text += ("@" if DIGEST_RE.match(ref) else ":") + ref
        return text

    def _url(self, path, doing, on_what):
        return self._base(doing, on_what) + path

    def _base(self, doing, on_what):
        with self._base_lock:
            if self._base_url is None:
                try:
                    self._base_url = self._resolve_base_url(doing, on_what, self._probe_retry)
                except RegistryError:
                    # A registry that stayed down through the retries fails the other images at once.
                    self._probe_retry = False
                    raise
            return self._base_url

    # ---- transport

    def _exchange(self, method, url, headers, data=None, stream=False, params=None, timeout=None):
        """One HTTP exchange; GET and HEAD redirects are followed here so that the Authorization
        header never goes to another host (a blob GET may be sent to a storage backend)."""
        for _unused in range(MAX_REDIRECTS + 1):
            bounded = bounded_timeout(timeout or self._timeout, "sending %s %s" % (method, urlsplit(url).path))
            response = self._session.request(method, url, headers=headers, data=data, stream=True, params=params,
                                             timeout=bounded, verify=self._verify, allow_redirects=False)
            self.stats.add("requests")
            location = response.headers.get("Location")
            if method not in ("GET", "HEAD") or response.status_code not in REDIRECT_STATUSES or not location:
                if not stream:
                    # Read here, bounded, what requests would read whole (error bodies, small answers).
                    self._read_answer(response, url)
                return response
            target = urljoin(response.url, location)
            response.close()
            if _origin(target) != _origin(url):
                headers = {key: value for key, value in headers.items() if key.lower() != "authorization"}
            url, params = target, None
        raise RegistryError("Error fetching %s: more than %d redirects" % (urlsplit(url).path, MAX_REDIRECTS),
                            registry=self.registry)

    @staticmethod
    def _read_answer(response, url):
        """Read a whole answer; an error body cut half way leaves the status, which is final already
        (a 404 stays a 404), as it does for a streamed answer: retried only when its status is."""
        try:
            read_bounded(response, MAX_ANSWER_SIZE, "the answer of %s" % urlsplit(url).path)
        except requests.exceptions.RequestException:
            if response.status_code < 400 or response.status_code in RETRY_STATUSES:
                raise
            response.close()
            response._content, response._content_consumed = b"", True

    def _own_origin(self, url):
        """Whether `url` is on the registry itself (the origin its /v2/ answered on), not a redirect target."""
        base = self._base_url
        return base is not None and _origin(url) == _origin(base)

    def _authorized(self, method, url, scopes, headers, data, stream):
        """An exchange carrying the authorization for `scopes`; on a 401 the challenge is taken and
        the request sent once more with fresh authorization, when its body can be re-sent. Only a
        challenge from the registry itself is answered: a redirect target (blob storage, another host)
        that asks for credentials gets none of the registry's."""
        request_headers = dict(headers or {})
        authorization = self._auth.authorization(scopes)
        if authorization:
            request_headers["Authorization"] = authorization
        response = self._exchange(method, url, request_headers, data, stream)
        if response.status_code != 401 or not (data is None or isinstance(data, bytes)):
            return response
        if not self._own_origin(response.url):
            return response
        if not self._auth.learn(response.headers.get("WWW-Authenticate", "")):
            return response
        self._auth.invalidate(scopes)
        fresh = self._auth.authorization(scopes)
        if not fresh or fresh == authorization:
            return response
        response.close()
        request_headers["Authorization"] = fresh
        return self._exchange(method, url, request_headers, data, stream)

    def _send(self, method, url, scopes, headers=None, data=None, stream=False, retry=True):
        """A request with authorization and, unless retry is False, the retry policy. Returns the
        response whatever its status; requests' exceptions pass through (see _translated)."""
        policy = self._retry if retry else self._single_attempt
        return policy.call(lambda: self._authorized(method, url, scopes, headers, data, stream),
                           "%s %s" % (method, urlsplit(url).path), log=self._log,
                           on_retry=lambda: self.stats.add("retries"), error_codes=error_codes)

    @contextlib.contextmanager
    def _translated(self, doing, on_what):
        """Turn requests' connection-level exceptions into our errors, naming the operation."""
        try:
            yield
        except requests.exceptions.RequestException as exc:
            raise self._connection_error(exc, doing, on_what) from exc
        except RetryBudgetExhausted as exc:
            if str(exc).startswith("Error "):
                raise
            raise RetryBudgetExhausted("Error %s %s: %s" % (doing, on_what, exc), exc.budget) from exc.__cause__

    def _connection_error(self, exc, doing, on_what):
        prefix = "Error %s %s: " % (doing, on_what)
        host = urlsplit(exc.request.url).netloc if getattr(exc, "request", None) is not None else self._host
        if isinstance(exc, requests.exceptions.SSLError):
            verification, reason = _ssl_reason(exc)
            if verification:
                return TLSError(prefix + "TLS verification failed for %s (%s); set %sca_path to the registry's CA, or "
                                "%stls_verify: false for a self-signed registry"
                                % (host, reason, self._option_prefix, self._option_prefix), registry=self.registry)
            return TLSError(prefix + "%s did not answer TLS (%s); set %stls_verify: false for a plain-HTTP registry"
                            % (host, reason, self._option_prefix), registry=self.registry)
        return RegistryError(prefix + "cannot reach %s: %s" % (host, describe_transient_error(exc)),
                             registry=self.registry)

    def _not_a_registry(self, response, doing, on_what):
        return RegistryError("Error %s %s: %s does not look like a registry (it answered %s, HTTP %d)"
                             % (doing, on_what, urlsplit(response.url).netloc,
                                "an HTML page" if is_html(response) else "something else than the registry API",
                                response.status_code), status=response.status_code, registry=self.registry)

    def _response_error(self, response, doing, on_what):
        status = response.status_code
        prefix = "Error %s %s: " % (doing, on_what)
        errors = registry_errors(response)
        if not errors and is_html(response):
            return self._not_a_registry(response, doing, on_what)
        cause = _describe_errors(errors) if errors else (response.reason or "no details")
        cause += " (HTTP %d)" % status
        if status in (401, 403):
            if status == 401 and self._auth.credentials is None:
                cause += "; no credentials found for %s: give username and password or an auth file" % self.registry
            elif status == 401 and self._auth.scheme == "basic":
                cause += "; %s refused the credentials of %s" % (self.registry, self._auth.credentials.username)
            error_class = AuthenticationError
        elif status == 404:
            error_class = NotFoundError
        else:
            error_class = RegistryError
        return error_class(prefix + cause, status=status, code=errors[0][0] if errors else None,
                           registry=self.registry, codes=[error[0] for error in errors])

    def _expect(self, response, statuses, doing, on_what):
        if response.status_code not in statuses:
            error = self._response_error(response, doing, on_what)  # reads the body: before close()
            response.close()
            raise error

    def _location(self, response, doing, on_what):
        location = response.headers.get("Location")
        if not location:
            raise RegistryError("Error %s %s: the registry answered HTTP %d without a Location"
                                % (doing, on_what, response.status_code), status=response.status_code,
                                registry=self.registry)
        return urljoin(response.url, location)

    # ---- version check and token fetch

    def ping(self):
        """GET /v2/: check the endpoint is a registry and resolve the scheme (once per client)."""
        self._base("connecting to", "registry " + self.registry)

    def expect_repositories(self, repositories, push=False):
        """Repositories this run will use: Bearer tokens are then asked for several at once."""
        self._auth.expect([repository_scope(name, push=push) for name in dict.fromkeys(repositories)])

    @property
    def credentials(self):
        """The Credentials this client sends to its registry (options, else the auth files), or None."""
        return self._auth.credentials

    @property
    def base_url(self):
        """scheme://host[:port] the registry answers on (https, or http when tls_verify is off and
        HTTPS does not answer); resolved by the first request."""
        return self._base("connecting to", "registry " + self.registry)

    def _resolve_base_url(self, doing, on_what, retry=True):
        if self._tls_verify:
            with self._translated(doing, on_what):
                return self._probe("https", doing, on_what, retry=retry)
        try:
            # Retried like any probe: only a plain-HTTP answer (a TLS error, never retried) leads to HTTP.
            return self._probe("https", doing, on_what, retry=retry, timeout=(PROBE_CONNECT_TIMEOUT, self._timeout))
        except requests.exceptions.RequestException as exc:
            if not answered_plain_http(exc):
                # A timeout, a refused or reset connection, a TLS alert: not a plain-HTTP registry. Falling
                # back would send the credentials in clear to whatever answers on port 80 or this port.
                cause = _ssl_reason(exc)[1] if isinstance(exc, requests.exceptions.SSLError) else \
                    describe_transient_error(exc)
                raise RegistryError("Error %s %s: cannot reach %s over HTTPS (%s); not trying plain HTTP, since the "
                                    "registry did not answer in plain HTTP (tls_verify: false falls back to HTTP only "
                                    "then)" % (doing, on_what, self._host, cause), registry=self.registry) from exc
            https_cause = _ssl_reason(exc)[1]
        try:
            return self._probe("http", doing, on_what, retry=retry)
        except requests.exceptions.RequestException as exc:
            raise RegistryError("Error %s %s: cannot reach %s over HTTPS (%s) nor HTTP (%s)"
                                % (doing, on_what, self._host, https_cause, describe_transient_error(exc)),
                                registry=self.registry) from exc

    def _probe(self, scheme, doing, on_what, retry=True, timeout=None):
        """GET /v2/ over `scheme`; returns the base URL, learns the challenge of a 401."""
        base = "%s://%s" % (scheme, self._host)
        policy = self._retry if retry else self._single_attempt
        response = policy.call(lambda: self._exchange("GET", base + "/v2/", {}, timeout=timeout), "GET /v2/",
                               log=self._log, on_retry=lambda: self.stats.add("retries"))
        with response:
            if response.status_code == 401 and not is_html(response):
                self._auth.learn(response.headers.get("WWW-Authenticate", ""))
            elif response.status_code in RETRY_STATUSES:  # a registry that is down, still after the retries
                raise self._response_error(response, doing, on_what)
            elif response.status_code != 200 or is_html(response):
                raise self._not_a_registry(response, doing, on_what)
        return base

    def _fetch_token(self, realm, params, credentials):
        """GET the realm for a Bearer token (for RegistryAuth); Basic credentials when there are some."""
        doing, on_what = "authenticating to", "%s (token server %s)" % (self.registry, urlsplit(realm).netloc)
        if urlsplit(realm).scheme not in ("http", "https"):
            raise AuthenticationError("Error %s %s: the challenge's realm is not an HTTP URL" % (doing, on_what),
                                      registry=self.registry)
        headers = {"Authorization": basic_authorization(credentials)} if credentials else {}
        query = [(key, value) for key, values in sorted(params.items()) if values
                 for value in (values if isinstance(values, list) else [values])]
        with self._translated(doing, on_what):
            response = self._retry.call(lambda: self._exchange("GET", realm, headers, params=query),
                                        "GET %s" % urlsplit(realm).path, log=self._log,
                                        on_retry=lambda: self.stats.add("retries"))
        with response:
            if response.status_code in (401, 403):
                who = "the credentials of %s" % credentials.username if credentials else "anonymous access"
                raise AuthenticationError("Error %s %s: the token server refused %s (HTTP %d)"
                                          % (doing, on_what, who, response.status_code),
                                          status=response.status_code, registry=self.registry)
            self._expect(response, (200,), doing, on_what)
            try:
                return response.json()
            except ValueError:
                raise AuthenticationError("Error %s %s: the token server's answer is not JSON" % (doing, on_what),
                                          status=response.status_code, registry=self.registry) from None


def _new_session(pool_size, host):
    import http.cookiejar  # with requests, on the first client: a run that reaches no registry imports neither

    session = requests.Session()
    # The environment is read once here rather than on every request (requests' trust_env costs
    # a scan of os.environ per request); this also keeps ~/.netrc credentials out of our requests.
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies("https://%s/" % host)
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    session.headers["User-Agent"] = USER_AGENT
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
