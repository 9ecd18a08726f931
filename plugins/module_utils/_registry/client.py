# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A client for the OCI distribution API over requests (private module_utils, no Ansible imports).

One RegistryClient talks to one registry through the session of RegistryTransport (transport.py:
keep-alive, retries, authorization) and may be shared by threads. Manifests keep their bytes exactly as served;
blobs stream through VerifyingReader both ways, so nothing unverified is returned or committed.

Upload retries: the POST that opens an upload session is retried like any request. A PATCH or PUT
carrying a body cannot be re-sent once its stream is partly consumed, so push_blob retries the
whole upload (a fresh session) only when given `reopen`, a callable returning a new reader;
without it a transient failure is raised and the caller may retry (bytes are re-opened by
themselves). A chunked upload first tries to resume a broken PATCH or PUT from the offset the
registry reports (see _ChunkedUpload); a monolithic one is always retried whole.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
from urllib.parse import urlencode, urljoin, urlsplit

from .._errors import DigestMismatchError, HangarError, RegistryError, UnsupportedMediaTypeError
from .._image.digest import CHUNK_SIZE, DIGEST_RE, VerifyingReader, sha256_digest, validate_digest
from .._image.manifest import Manifest
from .._image.media_types import ACCEPT_MANIFESTS, DOCKER_MANIFEST_V1_SIGNED
from .._requirements import requests
from .auth import CATALOG_SCOPE, repository_scope
from .retry import RetryBudgetExhausted, describe_transient_error, is_transient_error, spend_retry
from .transport import (
    MAX_CONFIG_SIZE,
    MAX_MANIFEST_SIZE,
    RegistryTransport,
    error_codes,
    is_html,
    iter_body,
    read_bounded,
)


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


class _BlobDownload:
    """One blob GET that resumes with `Range: bytes=N-` when the body breaks off mid-way.

    N is the end of the last whole chunk received (a chunk cut off is lost, at most CHUNK_SIZE).

    Distribution serves blobs with range support (206 and a Content-Range starting at N): the
    download then goes on from byte N and the caller's VerifyingReader hashes across the pieces.
    A registry that ignores the range answers 200 with the whole blob: its first N bytes are read
    and dropped, so the stream stays one and the same (the digest check at the end covers both).
    Anything else ends the resume attempts and raises the original error, for the caller's
    whole-blob retry. Resumes are bounded by MAX_RESUMES and spaced by the retry policy's delays.
    """

    MAX_RESUMES = 8

    def __init__(self, client, url, scopes, doing, on_what):
        self._client = client
        self._url = url
        self._scopes = scopes
        self._doing = doing
        self._on_what = on_what
        self._response = None
        self.size = None
        self.received = 0

    def open(self, offset=0):
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = "bytes=%d-" % offset
        client = self._client
        with client._translated(self._doing, self._on_what):
            response = client._send("GET", self._url, self._scopes, headers=headers, stream=True)
        client._expect(response, (200, 206) if offset else (200,), self._doing, self._on_what)
        if offset and response.status_code == 206 and not _content_range_starts_at(response, offset):
            response.close()
            raise RegistryError("Error %s %s: the registry answered a range request with another range (%s)"
                                % (self._doing, self._on_what, response.headers.get("Content-Range")),
                                status=206, registry=client.registry)
        self._response = response
        return response

    def close(self):
        if self._response is not None:
            self._response.close()
            self._response = None

    def chunks(self):
        resumes = 0
        while True:
            response = self._response
            skip = self.received if response.status_code == 200 else 0
            try:
                for chunk in iter_body(response, CHUNK_SIZE, self._on_what):
                    self._client.stats.add("bytes_received", len(chunk))
                    if skip:
                        dropped = min(skip, len(chunk))
                        chunk, skip = chunk[dropped:], skip - dropped
                        if not chunk:
                            continue
                    self.received += len(chunk)
                    yield chunk
                return
            except requests.exceptions.RequestException as exc:
                if not self._resumable(exc, resumes):
                    raise self._client._connection_error(exc, self._doing, self._on_what) from exc
                cause = exc
                try:
                    spend_retry("%s (a resume at byte %d was next)"
                                % (self._client._connection_error(exc, self._doing, self._on_what), self.received))
                except RetryBudgetExhausted as exhausted:
                    raise exhausted from exc
            resumes += 1
            self.close()
            self._client._retry.sleep(self._client._retry.delay(resumes))
            self._client.stats.add("resumes")
            self._client.stats.add("retries")  # a resume is the retry of the GET, from where it broke
            if self._client._log:
                self._client._log("Resuming %s %s at byte %d after: %s (resume %d of %d)" % (
                    self._doing, self._on_what, self.received, describe_transient_error(cause), resumes,
                    self.MAX_RESUMES))
            self.open(self.received)

    def _resumable(self, exc, resumes):
        if resumes >= self.MAX_RESUMES or not is_transient_error(exc):
            return False
        return self.size is None or self.received < self.size


class _ChunkedUpload:
    """POST + PATCH... + PUT in one upload session that resumes where a PATCH or the PUT broke off.

    After a transient connection error the upload status is asked (GET on the latest Location): a
    204 or 202 with `Range: 0-N` and a fresh Location lets the upload go on from byte N+1 in the
    same session. The bytes of the chunk in flight are kept in memory as they are read from the
    source (at most chunk_size), because the VerifyingReader has hashed them already and a source
    cannot in general be read twice; so a resume can go back anywhere within that chunk, never
    before it. The upload is not resumed (the original error is raised, for push_blob's whole
    upload retry) when the status request fails, answers anything else (BLOB_UPLOAD_INVALID,
    BLOB_UPLOAD_UNKNOWN, 404, 405), gives no Location or no usable Range ("0-0" is ambiguous), or
    reports an offset outside the chunk kept or beyond what was sent.

    Distribution 2.8 keeps the bytes of a PATCH cut mid-body but signs the offset into the `_state`
    of each Location and cancels the upload (404 BLOB_UPLOAD_INVALID) when the stored size differs
    from it: against it only a request that broke before any body byte arrived is resumed; the
    rest falls back to the whole retry at the cost of one status GET.
    A resumed session that the registry then refuses (any failed answer) is given up the same way.
    Resumes are bounded by MAX_RESUMES per session and spaced by the retry policy's delays; each
    counts in the client's stats as `upload_resumes` and as a retry.
    """

    MAX_RESUMES = 8

    def __init__(self, client, verifying, size, chunk_size, scopes, location, doing, on_what):
        self._client = client
        self._verifying = verifying
        self._size = size
        self._chunk_size = chunk_size
        self._scopes = scopes
        self._doing = doing
        self._on_what = on_what
        self.location = location
        self._kept = bytearray()  # bytes [_kept_start, _read_to) of the chunk in flight, as read
        self._kept_start = 0
        self._read_to = 0
        self._sent_to = 0  # the end of what any body has handed to the connection

    def run(self, digest):
        """Send everything and complete; returns the final response (the PUT's, or a failed PATCH's)."""
        client, offset, resumes, cause = self._client, 0, 0, None
        while True:
            try:
                response = self._send_from(offset, digest)
            except requests.exceptions.RequestException as exc:
                if resumes >= self.MAX_RESUMES or not is_transient_error(exc):
                    raise
                resumes, cause = resumes + 1, exc
                client._retry.sleep(client._retry.delay(resumes))
                resumed = self._registry_offset(exc)
                if resumed is None:
                    raise
                offset, self.location = resumed
                client.stats.add("upload_resumes")
                client.stats.add("retries")  # a resume is the retry of the PATCH or PUT, from where it broke
                if client._log:
                    client._log("Resuming %s %s at byte %d after: %s (resume %d of %d)" % (
                        self._doing, self._on_what, offset, describe_transient_error(exc), resumes,
                        self.MAX_RESUMES))
                continue
            if response.status_code in (201, 204) or cause is None:
                return response
            return self._refused(response, cause)

    def _send_from(self, offset, digest):
        """PATCH the chunks from `offset` on, then PUT; the PUT's answer, or the first failed PATCH's."""
        client = self._client
        while offset < self._size:
            end = min(self._kept_start + self._chunk_size, self._size)
            response = client._send("PATCH", self.location, self._scopes, retry=False, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": "%d-%d" % (offset, end - 1),
            }, data=_ChunkBody(self, offset, end))
            if response.status_code != 202:
                return response
            # Each answer carries a new _state: only the latest Location is valid.
            self.location = client._location(response, self._doing, self._on_what)
            response.close()
            offset = self._kept_start = end
            del self._kept[:]
        return client._send("PUT", _with_digest(self.location, digest), self._scopes, retry=False,
                            headers={"Content-Type": "application/octet-stream"})

    def _refused(self, response, cause):
        """A failed answer: returned as it is, unless this session was resumed; then the resumed
        session is given up and the error that broke it raised, for the whole upload retry (the
        registry may have kept more than it reported, as Distribution may while a cut request is
        still being written; its digest check at the PUT keeps a wrong assembly from committing)."""
        if cause is None:
            return response
        codes = error_codes(response)
        response.close()
        self._cannot_resume(cause, "the registry refused the resumed upload with HTTP %d%s" % (
            response.status_code, " %s" % ", ".join(codes) if codes else ""))
        raise cause

    def _registry_offset(self, cause):
        """(offset, location) to go on from, from the upload status; None when it cannot be used."""
        client = self._client
        try:
            response = client._send("GET", self.location, self._scopes)
        except requests.exceptions.RequestException as exc:
            return self._cannot_resume(cause, "the upload status request failed: %s" % describe_transient_error(exc))
        with response:
            if response.status_code not in (202, 204):
                codes = error_codes(response)
                return self._cannot_resume(cause, "the registry answered the upload status with HTTP %d%s" % (
                    response.status_code, " %s" % ", ".join(codes) if codes else ""))
            offset = _upload_offset(response.headers.get("Range"))
            location = response.headers.get("Location")
        if offset is None or not location:
            return self._cannot_resume(cause, "the upload status gave no usable Range and Location (Range: %s)"
                                       % response.headers.get("Range"))
        if offset > self._sent_to:
            return self._cannot_resume(cause, "the registry reports %d bytes, more than the %d sent" % (
                offset, self._sent_to))
        if offset < self._kept_start:
            return self._cannot_resume(cause, "the registry reports %d bytes, fewer than the %d it had accepted" % (
                offset, self._kept_start))
        return offset, urljoin(response.url, location)

    def _cannot_resume(self, cause, why):
        if self._client._log:
            self._client._log("Not resuming %s %s after: %s; %s" % (
                self._doing, self._on_what, describe_transient_error(cause), why))
        return None

    def pieces(self, start, end):
        """Bytes [start, end) in pieces of at most CHUNK_SIZE: what was read already from memory, the
        rest from the source (kept); at the end of the blob, the source is read to EOF (verified)."""
        position = start
        while position < min(end, self._read_to):
            stop = min(end, self._read_to, position + CHUNK_SIZE)
            yield bytes(self._kept[position - self._kept_start:stop - self._kept_start])
            position = stop
        while position < end:
            piece = self._verifying.read(min(CHUNK_SIZE, end - position))
            if not piece:  # the reader verifies at EOF, so a short source has raised already
                raise DigestMismatchError("%d more bytes" % (end - position), "end of data", "upload body")
            self._kept += piece
            self._read_to += len(piece)
            position += len(piece)
            yield piece
        if end == self._size:
            self._verifying.read(1)

    def sent(self, end, count):
        """A body handed `count` bytes, up to byte `end`, to the connection."""
        self._client.stats.add("bytes_sent", count)
        self._sent_to = max(self._sent_to, end)


class _ChunkBody:
    """Bytes [start, end) of a _ChunkedUpload as a PATCH body with a length; as _UploadBody, each
    piece goes out only once the next one has been read, so the last goes only after EOF verified."""

    def __init__(self, upload, start, end):
        self._upload = upload
        self._start = start
        self._end = end

    def __len__(self):
        return self._end - self._start

    def __iter__(self):
        upload, position = self._upload, self._start
        pieces = upload.pieces(self._start, self._end)
        piece = next(pieces, None)
        while piece is not None:
            following = next(pieces, None)
            position += len(piece)
            upload.sent(position, len(piece))
            yield piece
            piece = following


def _upload_offset(value):
    """The offset to go on from in an upload status `Range: 0-N` (some registries write bytes=0-N):
    N + 1; None when absent, unreadable, or "0-0" (no byte or one byte: Distribution's answer for none)."""
    spec = (value or "").strip()
    if spec.lower().startswith("bytes="):
        spec = spec[len("bytes="):]
    first, _sep, last = spec.partition("-")
    if first.strip() != "0" or not last.strip().isdigit() or int(last) == 0:
        return None
    return int(last) + 1


def _content_range_starts_at(response, offset):
    """Content-Range: bytes START-END/TOTAL with START == offset."""
    unit, _sep, spec = response.headers.get("Content-Range", "").partition(" ")
    start = spec.split("-", 1)[0]
    return unit.strip().lower() == "bytes" and start.isdigit() and int(start) == offset


class RegistryClient(RegistryTransport):
    """The OCI distribution API of one registry. See docs/ARCHITECTURE.md for the interface."""

    # ---- manifests

    def _read_again_when_cut(self, read, what):
        """read() once more, under the retry policy and counted as a retry, when its answer broke off
        mid-body (a connection error after the status arrived, outside the request's own retries)."""
        attempts = self._retry.attempts
        for number in range(1, attempts + 1):
            try:
                return read()
            except RegistryError as exc:
                if number == attempts or exc.status is not None or not is_transient_error(exc.__cause__):
                    raise
                try:
                    spend_retry(str(exc))
                except RetryBudgetExhausted as exhausted:
                    raise exhausted from exc.__cause__
                wait = self._retry.delay(number)
                if self._log is not None:
                    self._log("Retrying %s after %s (attempt %d of %d failed; next in %.1fs)"
                              % (what, describe_transient_error(exc.__cause__), number, attempts, wait))
                self.stats.add("retries")
                self._retry.sleep(wait)
        raise AssertionError("unreachable: attempts must be at least 1")  # pragma: no cover

    def get_manifest(self, repo, ref):
        """The manifest `ref` (tag or digest) of `repo`, bytes as served, digest verified."""
        doing, on_what = "fetching manifest", self._name(repo, ref)
        url = self._url("/v2/%s/manifests/%s" % (repo, ref), doing, on_what)

        def fetch():
            with self._translated(doing, on_what):
                answer = self._send("GET", url, (repository_scope(repo),), headers={"Accept": ACCEPT_MANIFESTS},
                                    stream=True)
                with answer:
                    self._expect(answer, (200,), doing, on_what)
                    return answer, self._read_capped(answer, MAX_MANIFEST_SIZE, doing, on_what)

        response, data = self._read_again_when_cut(fetch, "GET /v2/%s/manifests/%s" % (repo, ref))
        self.stats.add("bytes_received", len(data))
        if is_html(response):
            raise self._not_a_registry(response, doing, on_what)
        try:
            manifest = Manifest.from_bytes(data, response.headers.get("Content-Type"))
            digests = acceptable_digests(manifest)
        except UnsupportedMediaTypeError:
            raise
        except HangarError as exc:
            raise RegistryError("Error %s %s: %s" % (doing, on_what, exc), registry=self.registry) from None
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
            # Token servers (Distribution, Harbor) grant DELETE to the `delete` action, not to push.
            response = self._send("DELETE", url, ("repository:%s:delete" % repo,))
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
        """A VerifyingReader over the blob; DigestMismatchError when the stream ends if it lied.

        A download cut mid-body is resumed from the last byte received (see _BlobDownload), so a
        flaky link costs the missing bytes, not the whole blob again.
        """
        doing, on_what = "fetching blob", self._name(repo, validate_digest(digest))
        url = self._url("/v2/%s/blobs/%s" % (repo, digest), doing, on_what)
        download = _BlobDownload(self, url, (repository_scope(repo),), doing, on_what)
        try:
            response = download.open()
            length = response.headers.get("Content-Length", "")
            if size is None and length.isdigit():
                size = int(length)
            download.size = size
            yield VerifyingReader(download.chunks(), digest, size, what="blob " + on_what)
        finally:
            download.close()

    def _read_capped(self, response, limit, doing, on_what):
        """The whole body, at most `limit` bytes (see read_bounded); RegistryError naming what was read."""
        try:
            return read_bounded(response, limit, on_what)
        except HangarError as exc:
            if isinstance(exc, RegistryError):
                raise
            raise RegistryError("Error %s %s: %s" % (doing, on_what, str(exc).split(": ", 1)[-1]),
                                status=response.status_code, registry=self.registry) from None

    def get_blob(self, repo, digest):
        """A small blob (a config) in memory, verified, at most MAX_CONFIG_SIZE bytes. A read cut off
        (connection reset, read timeout) is tried again whole, under the retry policy, as a request is."""
        return self._read_again_when_cut(lambda: self._read_small_blob(repo, digest),
                                         "GET /v2/%s/blobs/%s" % (repo, digest))

    def _read_small_blob(self, repo, digest):
        """One read of a small blob, at most MAX_CONFIG_SIZE bytes."""
        with self.open_blob(repo, digest) as reader:
            if reader.size is not None and reader.size > MAX_CONFIG_SIZE:
                raise RegistryError("Error fetching blob %s: it is %d bytes, larger than the %d allowed for a config"
                                    % (self._name(repo, digest), reader.size, MAX_CONFIG_SIZE),
                                    registry=self.registry)
            parts, size = [], 0
            for chunk in reader:
                size += len(chunk)
                if size > MAX_CONFIG_SIZE:
                    raise RegistryError("Error fetching blob %s: larger than the %d bytes allowed for a config"
                                        % (self._name(repo, digest), MAX_CONFIG_SIZE), registry=self.registry)
                parts.append(chunk)
            return b"".join(parts)

    def push_blob(self, repo, digest, size, reader, chunk_size=None, reopen=None):
        """Upload a blob from `reader` (.read(n), an iterable of chunks, or bytes), verified on the way.

        Monolithic (POST + PUT) unless chunk_size is given and size > chunk_size (POST + PATCH... + PUT).
        A size of None sends the body with chunked transfer encoding.
        A chunked upload broken by a transient error resumes from the offset the registry reports,
        holding at most chunk_size bytes in memory for that (see _ChunkedUpload); a monolithic one
        cannot (Distribution refuses to continue an upload whose body broke off). Otherwise
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
                on_retry=lambda: self.stats.add("retries"), error_codes=error_codes)
        with response:
            self._expect(response, (201, 204), doing, on_what)
        served = response.headers.get("Docker-Content-Digest")
        if served and DIGEST_RE.match(served) and served != digest:
            raise DigestMismatchError(digest, served, "blob " + on_what)
        self.stats.add("blobs_uploaded")

    def _upload(self, repo, digest, size, reader, chunk_size, doing, on_what):
        """One upload session, chunked when chunk_size is set (resumed within the session where the
        registry allows, see _ChunkedUpload); returns the final response (the PUT's, or a failed PATCH's)."""
        scopes = (repository_scope(repo, push=True),)
        url = self._url("/v2/%s/blobs/uploads/" % repo, doing, on_what)
        with self._translated(doing, on_what):
            response = self._send("POST", url, scopes)
        with response:
            self._expect(response, (202,), doing, on_what)
        location = self._location(response, doing, on_what)
        verifying = VerifyingReader(reader, digest, size, what="blob " + on_what)
        chunked = _ChunkedUpload(self, verifying, size, chunk_size, scopes, location, doing, on_what) \
            if chunk_size else None
        try:
            if chunked is not None:
                response = chunked.run(digest)
                location = chunked.location
            else:
                if size == 0:
                    verifying.read(1)
                    body = b""
                else:
                    body = _UploadBody(verifying, size, self.stats, final=True)
                    if size is None:
                        body = iter(body)
                response = self._send("PUT", _with_digest(location, digest), scopes,
                                      headers={"Content-Type": "application/octet-stream"}, data=body, retry=False)
        except BaseException:
            self._cancel_upload(chunked.location if chunked is not None else location, scopes)
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

    def repository_exists(self, repo):
        """False only when the registry says it does not know the repository (404 NAME_UNKNOWN on its
        tag list, as Distribution and Harbor answer); True when it lists tags or answers anything else."""
        doing, on_what = "listing tags", self._name(repo)
        url = self._url("/v2/%s/tags/list?n=1" % repo, doing, on_what)
        with self._translated(doing, on_what):
            response = self._send("GET", url, (repository_scope(repo),))
        with response:
            if response.status_code != 404:
                return True
            return "NAME_UNKNOWN" not in error_codes(response)

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

    # ---- referrers (OCI distribution 1.1)

    def list_referrers(self, repo, digest):
        """The descriptors of the manifests whose `subject` is `digest`, from the referrers API;
        None when the registry has no referrers API (it answers 404, 400 or 405 there, as
        Distribution 2.8 does), so the caller falls back to the `sha256-<hex>` tag schema."""
        doing, on_what = "listing referrers of", self._name(repo, validate_digest(digest))
        url = self._url("/v2/%s/referrers/%s" % (repo, digest), doing, on_what)
        descriptors = []
        seen = set()
        while url and url not in seen:
            seen.add(url)
            with self._translated(doing, on_what):
                response = self._send("GET", url, (repository_scope(repo),),
                                      headers={"Accept": "application/vnd.oci.image.index.v1+json"})
            with response:
                if response.status_code in (400, 404, 405):
                    return None
                self._expect(response, (200,), doing, on_what)
                try:
                    body = response.json()
                except ValueError:
                    return None
            if not isinstance(body, dict) or not isinstance(body.get("manifests", []), list):
                return None
            descriptors.extend(d for d in body.get("manifests") or [] if isinstance(d, dict) and d.get("digest"))
            next_link = response.links.get("next", {}).get("url")
            url = urljoin(response.url, next_link) if next_link else None
        return descriptors
