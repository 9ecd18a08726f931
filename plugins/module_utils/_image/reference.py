# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image references, normalised as Docker does (private module_utils, no Ansible imports).

`[registry/][project/]name[:tag][@sha256:digest]`: the first segment is a registry only when it
contains `.` or `:` or is `localhost`; otherwise the registry is docker.io, where a one-segment
name gets the `library/` project. A reference with neither tag nor digest gets `latest`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .._errors import InputError
from .digest import DIGEST_RE

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")
DEFAULT_TAG = "latest"

_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                      r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?\Z")


def looks_like_registry(segment):
    return "." in segment or ":" in segment or segment == "localhost"


# `user:password@` (or `user@`) before a host, with or without a scheme: credentials written into a reference.
_USERINFO_RE = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*://)?)([^/@\s:]*:[^/@\s]*)@(?!sha(?:256|384|512):)"
                          r"(?=[^/@\s]+(?:/|\Z))")


def mask_credentials(text):
    """`text` with the password of a `user:password@host` written into it replaced by `***`."""
    if not isinstance(text, str):
        return text

    def masked(match):
        user, separator, _unused = match.group(2).partition(":")
        return "%s%s%s@" % (match.group(1), user, ":***" if separator else "")

    return _USERINFO_RE.sub(masked, text, count=1)


def embedded_password(text):
    """The password written into `user:password@host...`, or None."""
    match = _USERINFO_RE.match(text) if isinstance(text, str) else None
    if not match or ":" not in match.group(2):
        return None
    return match.group(2).partition(":")[2] or None


def _refuse_credentials(text, what):
    if isinstance(text, str) and _USERINFO_RE.match(text.strip()):
        raise InputError("invalid %s %r: it must not hold credentials (user:password@); give them as the module's "
                         "username and password options, registry_auth or an auth file"
                         % (what, mask_credentials(text)))


def normalize_registry(registry):
    """docker.io for Docker Hub's aliases, host[:port] otherwise (a port 1-65535, leading zeros dropped, so
    host:05000 and host:5000 are one registry); raises InputError if invalid."""
    _refuse_credentials(registry, "registry")
    original = registry
    registry = (registry or "").strip()
    for prefix in ("https://", "http://"):
        if registry.startswith(prefix):
            registry = registry[len(prefix):]
    registry = registry.rstrip("/")
    if not registry or not _HOST_RE.match(registry):
        raise InputError("invalid registry %r: expected a host name with an optional port, such as "
                         "registry.example.com:5000" % (registry,))
    host, colon, port = registry.rpartition(":") if not registry.endswith("]") else (registry, "", "")
    if colon:
        if not 1 <= int(port) <= 65535:
            raise InputError("invalid registry %r: the port %s is not from 1 to 65535" % (original, port))
        registry = "%s:%d" % (host, int(port))
    if registry.lower() in DOCKER_HUB_ALIASES:
        return DOCKER_HUB
    return registry


@dataclass(frozen=True)
class ImageReference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text):
        """Parse a reference; raises InputError naming the text and what was expected."""
        if not isinstance(text, str):
            raise InputError("invalid image reference %r: expected a string" % (text,))
        _refuse_credentials(text, "image reference")
        original = text
        text = text.strip()
        if not text or any(c.isspace() for c in text):
            raise InputError("invalid image reference %r: expected [registry/][project/]name[:tag][@sha256:digest]"
                             % (original,))
        digest = None
        if "@" in text:
            text, digest = text.split("@", 1)
            if not DIGEST_RE.match(digest):
                raise InputError("invalid image reference %r: the digest %r is not sha256:<64 lowercase hex digits>"
                                 % (original, digest))
        tag = None
        slash = text.rfind("/")
        colon = text.rfind(":")
        if colon > slash:
            text, tag = text[:colon], text[colon + 1:]
            if not _TAG_RE.match(tag):
                raise InputError("invalid image reference %r: the tag %r is not valid (letters, digits, _ . -; "
                                 "at most 128 characters)" % (original, tag))
        segments = text.split("/")
        if len(segments) > 1 and looks_like_registry(segments[0]):
            try:
                registry = normalize_registry(segments[0])
            except InputError as exc:
                raise InputError("invalid image reference %r: %s" % (original, exc)) from exc
            segments = segments[1:]
        else:
            registry = DOCKER_HUB
        if registry == DOCKER_HUB and len(segments) == 1:
            segments = ["library"] + segments
        for segment in segments:
            if not _COMPONENT_RE.match(segment):
                raise InputError("invalid image reference %r: the name component %r must be lowercase letters and "
                                 "digits, separated by '.', '_', '__' or '-'" % (original, segment))
        if tag is None and digest is None:
            tag = DEFAULT_TAG
        return cls(registry, "/".join(segments), tag, digest)

    @property
    def name(self):
        """registry/repository without tag or digest: the archive's `source`."""
        return "%s/%s" % (self.registry, self.repository)

    @property
    def project(self):
        parts = self.repository.split("/")
        return parts[0] if len(parts) > 1 else ""

    @property
    def reference(self):
        """What addresses the manifest in the registry API: the digest when pinned, else the tag."""
        return self.digest or self.tag

    def with_registry(self, registry):
        registry = normalize_registry(registry)
        repository = self.repository
        if registry == DOCKER_HUB and "/" not in repository:
            repository = "library/" + repository
        return replace(self, registry=registry, repository=repository)

    def with_project(self, project):
        """Replace the project (first path segment), or add one to a one-segment repository."""
        if not project:
            return self
        if not _COMPONENT_RE.match(project):
            raise InputError("invalid project %r: expected lowercase letters and digits, separated by "
                             "'.', '_' or '-'" % (project,))
        parts = self.repository.split("/")
        rest = parts[1:] if len(parts) > 1 else parts
        return replace(self, repository="/".join([project] + rest))

    def with_tag(self, tag):
        return replace(self, tag=tag)

    def __str__(self):
        text = self.name
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text
