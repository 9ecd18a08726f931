# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manifest media types (private module_utils, no Ansible imports)."""

from __future__ import annotations

import json
import re

from .._errors import HangarError, UnsupportedMediaTypeError

DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYOUT_VERSION = b'{"imageLayoutVersion":"1.0.0"}'

INDEX_TYPES = frozenset((DOCKER_MANIFEST_LIST, OCI_INDEX))
SCHEMA1_TYPES = frozenset((DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED))
IMAGE_MANIFEST_TYPES = frozenset((DOCKER_MANIFEST_V2, OCI_MANIFEST))
SUPPORTED_TYPES = INDEX_TYPES | SCHEMA1_TYPES | IMAGE_MANIFEST_TYPES

# Order matters for registries that pick the first acceptable type.
ACCEPT_MANIFESTS = ", ".join((
    OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST_V2,
    DOCKER_MANIFEST_V1_SIGNED, DOCKER_MANIFEST_V1,
))


def is_index(media_type):
    return media_type in INDEX_TYPES


def is_schema1(media_type):
    return media_type in SCHEMA1_TYPES


MAX_JSON_DEPTH = 64  # a manifest nests 4 or 5 deep; thousands deep is an attack on the parser's recursion
_JSON_STRING_RE = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET_RE = re.compile(rb"[\[\]{}]")


def json_depth_exceeds(data, limit=MAX_JSON_DEPTH):
    """Whether JSON bytes nest arrays and objects deeper than `limit` (strings are skipped)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    depth = 0
    for match in _JSON_BRACKET_RE.finditer(_JSON_STRING_RE.sub(b'""', data)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def loads_bounded(data, what):
    """json.loads with a nesting cap: HangarError naming `what` for JSON that is invalid or nested deeper
    than MAX_JSON_DEPTH (never a RecursionError)."""
    if json_depth_exceeds(data):
        raise HangarError("%s is nested deeper than %d levels: refused" % (what, MAX_JSON_DEPTH))
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise HangarError("%s is not JSON: %s" % (what, exc)) from exc


def detect_media_type(data, declared=None):
    """The media type of manifest bytes: the `mediaType` field, else what the registry declared,
    else what the structure says. Raises UnsupportedMediaTypeError for anything we cannot copy.

    OCI artifacts (Helm charts, signatures) are OCI image manifests with another config type, so
    they are supported as single manifests.
    """
    if json_depth_exceeds(data):
        raise HangarError("the manifest is nested deeper than %d levels: refused" % MAX_JSON_DEPTH)
    try:
        doc = json.loads(data)
    except ValueError:
        raise UnsupportedMediaTypeError(declared or "unknown (not JSON)") from None
    if not isinstance(doc, dict):
        raise UnsupportedMediaTypeError(declared or "unknown (not a JSON object)")
    media_type = doc.get("mediaType") or ""
    if not media_type:
        if doc.get("schemaVersion") == 1:
            media_type = DOCKER_MANIFEST_V1_SIGNED if "signatures" in doc else DOCKER_MANIFEST_V1
        elif declared and declared.split(";")[0].strip() in SUPPORTED_TYPES:
            media_type = declared.split(";")[0].strip()
        elif "manifests" in doc:
            media_type = OCI_INDEX
        elif "config" in doc and "layers" in doc:
            media_type = OCI_MANIFEST
        else:
            media_type = (declared or "unknown").split(";")[0].strip()
    if media_type not in SUPPORTED_TYPES:
        raise UnsupportedMediaTypeError(media_type)
    return media_type
