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
themselves).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
from urllib.parse import urlencode, urljoin, urlsplit

from .._errors import DigestMismatchError
from .._image.digest import CHUNK_SIZE, DIGEST_RE, VerifyingReader, sha256_digest, validate_digest
from .._image.manifest import Manifest
from .._image.media_types import ACCEPT_MANIFESTS, DOCKER_MANIFEST_V1_SIGNED
from .auth import CATALOG_SCOPE, repository_scope
from .transport import RegistryTransport, error_codes, is_html


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


class RegistryClient(RegistryTransport):
    """The OCI distribution API of one registry. See docs/ARCHITECTURE.md for the interface."""

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
        if is_html(response):
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
                on_retry=lambda: self.stats.add("retries"), error_codes=error_codes)
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
