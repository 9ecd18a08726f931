# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A client for the OCI distribution API over requests (private module_utils, no Ansible imports).

One RegistryClient talks to one registry through one requests.Session (keep-alive, a pool big
enough for 20 parallel transfers) and may be shared by threads. Every request goes through the
one RetryPolicy; authentication is _registry_auth's. Manifests keep their bytes exactly as served;
blobs stream through VerifyingReader both ways, so nothing unverified is returned or committed.

Upload retries: the POST that opens an upload session is retried like any request. A PATCH or PUT
carrying a body cannot be re-sent once its stream is partly consumed, so push_blob retries the
whole upload (a fresh session) only when given `reopen`, a callable returning a new reader;
without it a transient failure is raised and the caller may retry (bytes are re-opened by
themselves).
"""

from __future__ import annotations

import base64
import contextlib
import http.cookiejar
import io
import json
import os
import ssl
import threading
from dataclasses import replace
from urllib.parse import urlencode, urljoin, urlsplit

from ._credentials import find_credentials
from ._digest import CHUNK_SIZE, DIGEST_RE, VerifyingReader, sha256_digest, validate_digest
from ._errors import (
    AuthenticationError,
    DigestMismatchError,
    HangarError,
    InputError,
    NotFoundError,
    RegistryError,
    TLSError,
)
from ._manifest import Manifest
from ._media_types import ACCEPT_MANIFESTS, DOCKER_MANIFEST_V1_SIGNED
from ._reference import DOCKER_HUB, normalize_registry
from ._registry_auth import CATALOG_SCOPE, RegistryAuth, basic_authorization, repository_scope
from ._retry import REQUESTS_IMPORT_ERROR, RETRY_STATUSES, RetryPolicy, describe_transient_error, exception_chain

if not REQUESTS_IMPORT_ERROR:
    import requests
    import urllib3
    from requests.adapters import HTTPAdapter

DOCKER_HUB_API_HOST = "registry-1.docker.io"
REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
MAX_REDIRECTS = 10
PROBE_CONNECT_TIMEOUT = 10.0
USER_AGENT = "airgap.hangar"


class TransferStats:
    """Counters of one client, safe to update from several threads."""

    FIELDS = ("requests", "retries", "bytes_sent", "bytes_received", "blobs_uploaded", "blobs_mounted",
              "blobs_skipped")

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
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RuntimeError):
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    result = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            detail = error.get("detail")
            result.append((str(error.get("code") or "UNKNOWN"), str(error.get("message") or ""),
                           detail if isinstance(detail, str) else ""))
    return result


def _error_codes(response):
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


def _is_html(response):
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower() == "text/html"


def _origin(url):
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def _with_digest(location, digest):
    parts = urlsplit(location)
    query = parts.query + ("&" if parts.query else "") + urlencode({"digest": digest})
    return parts._replace(query=query).geturl()


def _schema1_payload(data):
    """The bytes a signed schema 1 manifest's digest is computed over: the JWS signatures left out."""

    def unpad(text):
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    try:
        protected = json.loads(unpad(json.loads(data)["signatures"][0]["protected"]))
        return data[:protected["formatLength"]] + unpad(protected["formatTail"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def acceptable_digests(manifest):
    """Digests that name these manifest bytes (a signed schema 1 manifest also has its payload's)."""
    digests = {manifest.digest}
    if manifest.media_type == DOCKER_MANIFEST_V1_SIGNED:
        payload = _schema1_payload(manifest.data)
        if payload is not None:
            digests.add(sha256_digest(payload))
    return digests


def _ssl_reason(exc):
    """(is it a certificate verification failure, a short reason) for a TLS failure."""
    for inner in exception_chain(exc):
        if isinstance(inner, ssl.SSLCertVerificationError):
            return True, inner.verify_message or "certificate verify failed"
        if isinstance(inner, ssl.SSLError):
            return False, inner.reason or str(inner)
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text, "TLS handshake failed"


class _UploadBody:
    """`length` bytes of a VerifyingReader as a request body (all of it when length is None).

    Iterable with a length, so requests sends Content-Length and urllib3 sends our 1 MiB chunks as
    they are; of unknown length, pass iter(body) and requests uses chunked transfer encoding. Each
    chunk goes out only once the next one has been read; with `final`, reading past the last chunk
    reaches EOF, where the reader verifies digest and size, so a source that lies never completes
    the request that commits it.
    """

    def __init__(self, reader, length, stats, final):
        self._reader = reader
        self._remaining = length
        self._length = length
        self._stats = stats
        self._final = final

    def __len__(self):
        return self._length

    def _next_chunk(self):
        if self._remaining == 0:
            if self._final:
                self._reader.read(1)
            return b""
        chunk = self._reader.read(CHUNK_SIZE if self._remaining is None else min(CHUNK_SIZE, self._remaining))
        if self._remaining is not None:
            if not chunk:  # the reader verifies at EOF, so a short source has raised already
                raise DigestMismatchError("%d more bytes" % self._remaining, "end of data", "upload body")
            self._remaining -= len(chunk)
        return chunk

    def __iter__(self):
        chunk = self._next_chunk()
        while chunk:
            following = self._next_chunk()
            self._stats.add("bytes_sent", len(chunk))
            yield chunk
            chunk = following


class RegistryClient:
    """The OCI distribution API of one registry. See docs/ARCHITECTURE.md for the interface."""

    def __init__(self, registry, username=None, password=None, auth_file=None, tls_verify=True,
                 ca_path=None, pool_size=20, timeout=60.0, retry=None, log=None):
        if REQUESTS_IMPORT_ERROR:
            raise HangarError("RegistryClient needs the Python library requests, which is not installed")
        self.registry = normalize_registry(registry)
        self.stats = TransferStats()
        self._host = DOCKER_HUB_API_HOST if self.registry == DOCKER_HUB else self.registry
        self._username = username
        self._tls_verify = tls_verify
        if ca_path and not os.path.exists(ca_path):
            raise InputError("Error using ca_path %s: no such file or directory" % ca_path)
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
            response = self._session.request(method, url, headers=headers, data=data, stream=stream, params=params,
                                             timeout=timeout or self._timeout, verify=self._verify,
                                             allow_redirects=False)
            self.stats.add("requests")
            location = response.headers.get("Location")
            if method not in ("GET", "HEAD") or response.status_code not in REDIRECT_STATUSES or not location:
                return response
            target = urljoin(response.url, location)
            response.close()
            if _origin(target) != _origin(url):
                headers = {key: value for key, value in headers.items() if key.lower() != "authorization"}
            url, params = target, None
        raise RegistryError("Error fetching %s: more than %d redirects" % (urlsplit(url).path, MAX_REDIRECTS),
                            registry=self.registry)

    def _authorized(self, method, url, scopes, headers, data, stream):
        """An exchange carrying the authorization for `scopes`; on a 401 the challenge is taken and
        the request sent once more with fresh authorization, when its body can be re-sent."""
        request_headers = dict(headers or {})
        authorization = self._auth.authorization(scopes)
        if authorization:
            request_headers["Authorization"] = authorization
        response = self._exchange(method, url, request_headers, data, stream)
        if response.status_code != 401 or not (data is None or isinstance(data, bytes)):
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
                           on_retry=lambda: self.stats.add("retries"), error_codes=_error_codes)

    @contextlib.contextmanager
    def _translated(self, doing, on_what):
        """Turn requests' connection-level exceptions into our errors, naming the operation."""
        try:
            yield
        except requests.exceptions.RequestException as exc:
            raise self._connection_error(exc, doing, on_what) from exc

    def _connection_error(self, exc, doing, on_what):
        prefix = "Error %s %s: " % (doing, on_what)
        host = urlsplit(exc.request.url).netloc if getattr(exc, "request", None) is not None else self._host
        if isinstance(exc, requests.exceptions.SSLError):
            verification, reason = _ssl_reason(exc)
            if verification:
                return TLSError(prefix + "TLS verification failed for %s (%s); set ca_path to the registry's CA, or "
                                "tls_verify: false for a self-signed registry" % (host, reason),
                                registry=self.registry)
            return TLSError(prefix + "%s did not answer TLS (%s); set tls_verify: false for a plain-HTTP registry"
                            % (host, reason), registry=self.registry)
        return RegistryError(prefix + "cannot reach %s: %s" % (host, describe_transient_error(exc)),
                             registry=self.registry)

    def _not_a_registry(self, response, doing, on_what):
        return RegistryError("Error %s %s: %s does not look like a registry (it answered %s, HTTP %d)"
                             % (doing, on_what, urlsplit(response.url).netloc,
                                "an HTML page" if _is_html(response) else "something else than the registry API",
                                response.status_code), status=response.status_code, registry=self.registry)

    def _response_error(self, response, doing, on_what):
        status = response.status_code
        prefix = "Error %s %s: " % (doing, on_what)
        errors = registry_errors(response)
        if not errors and _is_html(response):
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
                           registry=self.registry)

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
            return self._probe("https", doing, on_what, retry=False, timeout=(PROBE_CONNECT_TIMEOUT, self._timeout))
        except requests.exceptions.RequestException as exc:
            https_cause = _ssl_reason(exc)[1] if isinstance(exc, requests.exceptions.SSLError) else \
                describe_transient_error(exc)
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
            if response.status_code == 401 and not _is_html(response):
                self._auth.learn(response.headers.get("WWW-Authenticate", ""))
            elif response.status_code in RETRY_STATUSES:  # a registry that is down, still after the retries
                raise self._response_error(response, doing, on_what)
            elif response.status_code != 200 or _is_html(response):
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

    # ---- manifests

    def get_manifest(self, repo, ref):
        """The manifest `ref` (tag or digest) of `repo`, bytes as served, digest verified."""
        doing, on_what = "fetching manifest", self._name(repo, ref)
        url = self._url("/v2/%s/manifests/%s" % (repo, ref), doing, on_what)
        with self._translated(doing, on_what):
            response = self._send("GET", url, (repository_scope(repo),), headers={"Accept": ACCEPT_MANIFESTS})
            self._expect(response, (200,), doing, on_what)
            data = response.content
        self.stats.add("bytes_received", len(data))
        if _is_html(response):
            raise self._not_a_registry(response, doing, on_what)
        manifest = Manifest.from_bytes(data, response.headers.get("Content-Type"))
        digests = acceptable_digests(manifest)
        for expected in (ref, response.headers.get("Docker-Content-Digest")):
            if expected and DIGEST_RE.match(expected) and expected not in digests:
                raise DigestMismatchError(expected, manifest.digest, "manifest " + on_what)
        return manifest

    def head_manifest(self, repo, ref):
        """{"mediaType", "digest", "size"} of the manifest `ref`, or None when it does not exist."""
        doing, on_what = "checking manifest", self._name(repo, ref)
        url = self._url("/v2/%s/manifests/%s" % (repo, ref), doing, on_what)
        with self._translated(doing, on_what):
            response = self._send("HEAD", url, (repository_scope(repo),), headers={"Accept": ACCEPT_MANIFESTS})
        with response:
            if response.status_code == 404:
                return None
            self._expect(response, (200,), doing, on_what)
        digest = response.headers.get("Docker-Content-Digest") or (ref if DIGEST_RE.match(ref) else None)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        length = response.headers.get("Content-Length", "")
        if not digest or not media_type or not length.isdigit():
            return self.get_manifest(repo, ref).descriptor()
        return {"mediaType": media_type, "digest": digest, "size": int(length)}

    def put_manifest(self, repo, ref, data, media_type):
        """PUT manifest bytes under `ref` (tag or digest); returns the digest the registry gives it."""
        doing, on_what = "pushing manifest", self._name(repo, ref)
        manifest = Manifest(bytes(data), media_type, sha256_digest(data))
        digests = acceptable_digests(manifest)
        if DIGEST_RE.match(ref) and ref not in digests:
            raise DigestMismatchError(ref, manifest.digest, "manifest " + on_what)
        url = self._url("/v2/%s/manifests/%s" % (repo, ref), doing, on_what)
        with self._translated(doing, on_what):
            response = self._send("PUT", url, (repository_scope(repo, push=True),),
                                  headers={"Content-Type": media_type}, data=manifest.data)
        with response:
            self._expect(response, (200, 201, 202), doing, on_what)
        self.stats.add("bytes_sent", len(manifest.data))
        served = response.headers.get("Docker-Content-Digest")
        if served and DIGEST_RE.match(served):
            if served not in digests:
                raise DigestMismatchError(manifest.digest, served, "manifest " + on_what)
            return served
        return manifest.digest

    def delete_manifest(self, repo, digest):
        doing, on_what = "deleting manifest", self._name(repo, validate_digest(digest))
        url = self._url("/v2/%s/manifests/%s" % (repo, digest), doing, on_what)
        with self._translated(doing, on_what):
            response = self._send("DELETE", url, (repository_scope(repo, push=True),))
        with response:
            self._expect(response, (200, 202, 204), doing, on_what)

    # ---- blobs

    def blob_exists(self, repo, digest):
        doing, on_what = "checking blob", self._name(repo, validate_digest(digest))
        url = self._url("/v2/%s/blobs/%s" % (repo, digest), doing, on_what)
        with self._translated(doing, on_what):
            response = self._send("HEAD", url, (repository_scope(repo),))
        with response:
            if response.status_code == 404:
                return False
            self._expect(response, (200,), doing, on_what)
        return True

    @contextlib.contextmanager
    def open_blob(self, repo, digest, size=None):
        """A VerifyingReader over the blob; DigestMismatchError when the stream ends if it lied."""
        doing, on_what = "fetching blob", self._name(repo, validate_digest(digest))
        url = self._url("/v2/%s/blobs/%s" % (repo, digest), doing, on_what)
        with self._translated(doing, on_what):
            response = self._send("GET", url, (repository_scope(repo),), headers={"Accept-Encoding": "identity"},
                                  stream=True)
        with response:
            self._expect(response, (200,), doing, on_what)
            length = response.headers.get("Content-Length", "")
            if size is None and length.isdigit():
                size = int(length)
            yield VerifyingReader(self._stream_chunks(response, doing, on_what), digest, size,
                                  what="blob " + on_what)

    def _stream_chunks(self, response, doing, on_what):
        with self._translated(doing, on_what):
            for chunk in response.iter_content(CHUNK_SIZE):
                self.stats.add("bytes_received", len(chunk))
                yield chunk

    def get_blob(self, repo, digest):
        """A small blob (a config) in memory, verified."""
        with self.open_blob(repo, digest) as reader:
            return reader.read_all_verified()

    def push_blob(self, repo, digest, size, reader, chunk_size=None, reopen=None):
        """Upload a blob from `reader` (.read(n), an iterable of chunks, or bytes), verified on the way.

        Monolithic (POST + PUT) unless chunk_size is given and size > chunk_size (POST + PATCH... + PUT).
        A size of None sends the body with chunked transfer encoding.
        `reopen()` returning a fresh reader lets a transient failure retry the whole upload.
        """
        doing, on_what = "pushing blob", self._name(repo, validate_digest(digest))
        if isinstance(reader, (bytes, bytearray, memoryview)):
            content = bytes(reader)
            reader, reopen = io.BytesIO(content), reopen or (lambda: io.BytesIO(content))
        if not (chunk_size and size is not None and size > chunk_size):
            chunk_size = None  # monolithic
        readers = [reader]
        policy = self._retry if reopen else self._single_attempt
        with self._translated(doing, on_what):
            response = policy.call(
                lambda: self._upload(repo, digest, size, readers.pop() if readers else reopen(), chunk_size,
                                     doing, on_what),
                "%s /v2/%s/blobs/uploads/ (the whole upload of %s)"
                % ("POST+PATCH+PUT" if chunk_size else "POST+PUT", repo, digest),
                log=self._log,
                on_retry=lambda: self.stats.add("retries"), error_codes=_error_codes)
        with response:
            self._expect(response, (201, 204), doing, on_what)
        served = response.headers.get("Docker-Content-Digest")
        if served and DIGEST_RE.match(served) and served != digest:
            raise DigestMismatchError(digest, served, "blob " + on_what)
        self.stats.add("blobs_uploaded")

    def _upload(self, repo, digest, size, reader, chunk_size, doing, on_what):
        """One upload session, chunked when chunk_size is set; returns the final response (the
        PUT's, or a failed PATCH's)."""
        scopes = (repository_scope(repo, push=True),)
        url = self._url("/v2/%s/blobs/uploads/" % repo, doing, on_what)
        with self._translated(doing, on_what):
            response = self._send("POST", url, scopes)
        with response:
            self._expect(response, (202,), doing, on_what)
        location = self._location(response, doing, on_what)
        verifying = VerifyingReader(reader, digest, size, what="blob " + on_what)
        try:
            body = None
            if chunk_size:
                for offset in range(0, size, chunk_size):
                    length = min(chunk_size, size - offset)
                    response = self._send("PATCH", location, scopes, retry=False, headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": "%d-%d" % (offset, offset + length - 1),
                    }, data=_UploadBody(verifying, length, self.stats, final=offset + length == size))
                    if response.status_code != 202:
                        break
                    # Each answer carries a new _state: only the latest Location is valid.
                    location = self._location(response, doing, on_what)
                    response.close()
            elif size == 0:
                verifying.read(1)
                body = b""
            else:
                body = _UploadBody(verifying, size, self.stats, final=True)
                if size is None:
                    body = iter(body)
            if response.status_code == 202:  # the POST's, or the last PATCH's: all accepted so far
                response = self._send("PUT", _with_digest(location, digest), scopes,
                                      headers={"Content-Type": "application/octet-stream"}, data=body, retry=False)
        except BaseException:
            self._cancel_upload(location, scopes)
            raise
        if response.status_code not in (201, 204):
            self._cancel_upload(location, scopes)
        return response

    def _cancel_upload(self, location, scopes):
        """Best effort: DELETE an upload session that will not be completed."""
        try:
            authorization = self._auth.authorization(scopes)
            self._exchange("DELETE", location, {"Authorization": authorization} if authorization else {}).close()
        except Exception:  # the session expires on its own; the original error matters more
            pass

    def mount_blob(self, repo, digest, from_repo):
        """Cross-repository mount; True when mounted (201), False when the registry opened an upload instead."""
        doing, on_what = "mounting blob", "%s from %s" % (self._name(repo, validate_digest(digest)), from_repo)
        scopes = (repository_scope(repo, push=True), repository_scope(from_repo))
        url = self._url("/v2/%s/blobs/uploads/?%s" % (repo, urlencode({"mount": digest, "from": from_repo})),
                        doing, on_what)
        with self._translated(doing, on_what):
            response = self._send("POST", url, scopes)
        with response:
            self._expect(response, (201, 202), doing, on_what)
        if response.status_code == 202:
            self._cancel_upload(self._location(response, doing, on_what), scopes)
            return False
        self.stats.add("blobs_mounted")
        return True

    # ---- listings

    def list_tags(self, repo):
        return self._paginate("/v2/%s/tags/list" % repo, (repository_scope(repo),), "tags", "listing tags",
                              self._name(repo))

    def catalog(self):
        return self._paginate("/v2/_catalog", (CATALOG_SCOPE,), "repositories", "listing repositories",
                              "of " + self.registry)

    def _paginate(self, path, scopes, key, doing, on_what):
        url = self._url(path, doing, on_what)
        items, seen = [], set()
        while url and url not in seen:
            seen.add(url)
            with self._translated(doing, on_what):
                response = self._send("GET", url, scopes)
            with response:
                self._expect(response, (200,), doing, on_what)
                try:
                    body = response.json()
                except ValueError:
                    raise self._not_a_registry(response, doing, on_what) from None
            items.extend((body.get(key) if isinstance(body, dict) else None) or [])
            next_link = response.links.get("next", {}).get("url")
            url = urljoin(response.url, next_link) if next_link else None
        return items


def _new_session(pool_size, host):
    session = requests.Session()
    # The environment is read once here rather than on every request (requests' trust_env costs
    # a scan of os.environ per request); this also keeps ~/.netrc credentials out of our requests.
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies("https://%s/" % host)
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    session.headers["User-Agent"] = USER_AGENT
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
