# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exceptions of the airgap.hangar library (private module_utils, no Ansible imports).

Every error the library raises is a HangarError, so modules can turn any of them into fail_json
with a readable message, and callers outside Ansible can catch one type.
"""

from __future__ import annotations


class HangarError(Exception):
    """Base of every error the library raises; str() is a message fit for a user."""


class InputError(HangarError):
    """Bad input from the user: a reference, an image-list line, an option value."""


class DigestMismatchError(HangarError):
    """Content did not match the digest (or size) it was announced with."""

    def __init__(self, expected, actual, what="blob"):
        self.expected = expected
        self.actual = actual
        super().__init__("digest mismatch for %s: expected %s, got %s" % (what, expected, actual))


class UnsupportedMediaTypeError(HangarError):
    def __init__(self, media_type):
        self.media_type = media_type
        super().__init__('unsupported MIME type "%s"' % media_type)


class RegistryError(HangarError):
    """An answer or a failure of a registry.

    status is the HTTP status (None for connection-level failures), code the registry's error code
    (MANIFEST_UNKNOWN, UNAUTHORIZED, ...) when it sent one, codes every code it sent (a refused
    manifest may carry several: DIGEST_INVALID, then MANIFEST_BLOB_UNKNOWN), registry the host it came from.
    """

    def __init__(self, message, status=None, code=None, registry=None, codes=None):
        self.status = status
        self.code = code
        self.codes = tuple(codes) if codes else ((code,) if code else ())
        self.registry = registry
        super().__init__(message)


class AuthenticationError(RegistryError):
    """401/403, or a token that could not be obtained."""


class NotFoundError(RegistryError):
    """404: manifest, blob, repository or tag unknown."""


class TLSError(RegistryError):
    """TLS verification failed; the message suggests ca_path or tls_verify: false."""


class ArchiveError(HangarError):
    """An archive that cannot be read or written as the Hangar format requires."""


class HarborError(HangarError):
    """An error answered by Harbor's REST API."""

    def __init__(self, message, status=None, code=None):
        self.status = status
        self.code = code
        super().__init__(message)


def describe_unexpected(exc):
    """A message for an exception that is not one of ours (OSError, RecursionError, KeyError, a JSON error,
    ...), so that it can end as one image's result instead of a traceback."""
    if isinstance(exc, HangarError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "the data is nested too deeply to be read (RecursionError)"
    if isinstance(exc, OSError):
        text = exc.strerror or str(exc) or type(exc).__name__
        if exc.filename:
            text += ": %s" % exc.filename
        return "%s (%s)" % (text, type(exc).__name__)
    if isinstance(exc, KeyError):
        return "a required field %s is missing (KeyError)" % (exc.args[0] if exc.args else "")
    if isinstance(exc, ValueError) and type(exc).__name__ == "JSONDecodeError":
        return "not valid JSON: %s" % exc
    return "unexpected %s: %s" % (type(exc).__name__, exc)


class SigningError(HangarError):
    """A signing key that cannot be used (unreadable, wrong passphrase, unsupported algorithm), or a
    signature that cannot be made or read."""
