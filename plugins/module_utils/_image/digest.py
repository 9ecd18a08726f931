# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Digests and digest verification while streaming (private module_utils, no Ansible imports).

This is the one place where content is checked against its digest: registry downloads, registry
uploads and archive reads all pass their bytes through VerifyingReader.
"""

from __future__ import annotations

import hashlib
import re
from functools import partial

from .._errors import DigestMismatchError, InputError

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}\Z")
CHUNK_SIZE = 1024 * 1024


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def validate_digest(digest):
    """Return digest if it is a sha256 digest we can verify; raise InputError otherwise."""
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise InputError("invalid digest %r: expected sha256:<64 lowercase hex digits>" % (digest,))
    return digest


def digest_hex(digest):
    return validate_digest(digest)[len("sha256:"):]


def verify_bytes(data, digest, what="blob"):
    actual = sha256_digest(data)
    if actual != digest:
        raise DigestMismatchError(digest, actual, what)
    return data


def verifier_behind(reader):
    """The VerifyingReader `reader` is, or wraps through readers naming what they wrap `wrapped`; else None."""
    for _unused in range(8):
        if reader is None or isinstance(reader, VerifyingReader):
            return reader
        reader = getattr(reader, "wrapped", None)
    return None


class VerifyingReader:
    """A file-like reader over `source` that hashes what passes and checks it at the end.

    `source` is anything with read(n) or an iterator of byte chunks. When the stream ends, the
    sha256 and (when given) the size are compared and DigestMismatchError is raised on a
    difference, so a consumer that reads to EOF never commits unverified content silently.
    Reading more than `size` bytes fails early, which bounds what a lying source can send.
    When `source` is (or wraps, see verifier_behind) a VerifyingReader of the same digest, the
    bytes are not hashed a second time: that reader raises at the end before this one sees it.
    """

    def __init__(self, source, digest, size=None, what="blob"):
        self._digest = validate_digest(digest)
        self._size = size
        self._what = what
        inner = verifier_behind(source)
        self._inner = inner if inner is not None and inner.digest == self._digest else None
        self._hash = hashlib.sha256() if self._inner is None else None
        self._read_fn = source.read if hasattr(source, "read") else None
        self._iter = None if self._read_fn else iter(source)
        self._pending = b""
        self.bytes_read = 0
        self.verified = False

    @property
    def digest(self):
        """The digest this reader checks the stream against."""
        return self._digest

    @property
    def size(self):
        """The size announced for the stream, or None when unknown."""
        return self._size

    def __len__(self):
        # requests uses len() to send Content-Length instead of chunked encoding.
        if self._size is None:
            raise TypeError("size unknown")
        return self._size

    def _raw_read(self, n):
        if self._read_fn is not None:
            return self._read_fn(n)
        while not self._pending:  # generators may yield b"" mid-stream; only exhaustion is EOF
            chunk = next(self._iter, None)
            if chunk is None:
                return b""
            self._pending = chunk
        chunk, self._pending = self._pending[:n], self._pending[n:]
        return chunk

    def read(self, n=CHUNK_SIZE):
        if n is None or n < 0:
            n = CHUNK_SIZE
        chunk = self._raw_read(n)
        if chunk:
            if self._hash is not None:
                self._hash.update(chunk)
            self.bytes_read += len(chunk)
            if self._size is not None and self.bytes_read > self._size:
                raise DigestMismatchError(
                    "%s (%d bytes)" % (self._digest, self._size),
                    "more than %d bytes" % self._size, self._what)
        elif not self.verified:
            self._finish()
        return chunk

    def _finish(self):
        if self._hash is None:
            if not self._inner.verified:  # a wrapper ended the stream before the verifier behind it
                raise DigestMismatchError(self._digest, "a stream that ended unverified", self._what)
        else:
            actual = "sha256:" + self._hash.hexdigest()
            if actual != self._digest:
                raise DigestMismatchError(self._digest, actual, self._what)
        if self._size is not None and self.bytes_read != self._size:
            raise DigestMismatchError(
                "%s (%d bytes)" % (self._digest, self._size), "%d bytes" % self.bytes_read, self._what)
        self.verified = True

    def __iter__(self):
        return iter(partial(self.read, CHUNK_SIZE), b"")

    def read_all_verified(self):
        """Read to the end (for small blobs such as configs) and return the verified bytes."""
        parts = []
        for chunk in self:
            parts.append(chunk)
        return b"".join(parts)
