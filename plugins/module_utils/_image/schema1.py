# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker schema 1 to Docker schema 2 conversion (private module_utils, no Ansible imports).

Schema 1 manifests (signed or not) have no config blob: the image config lives in the
v1Compatibility string of the newest history entry, and layers are listed newest first. The
conversion follows what containers/image and Docker do: the config keeps everything the newest
v1Compatibility says except the v1 ids, and gains `history` (one entry per v1Compatibility,
oldest first) and `rootfs.diff_ids` (the uncompressed sha256 of each layer that is not a
throwaway). The result is a new manifest with a new digest; the layers themselves are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from dataclasses import dataclass

from .._errors import HangarError
from .digest import CHUNK_SIZE, DIGEST_RE, sha256_digest
from .manifest import Manifest
from .media_types import DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST_V2
from .platform import Platform

_V1_ID_RE = re.compile(r"^[0-9a-f]{64}\Z")
# v1 bookkeeping that has no meaning in a schema 2 config.
_V1_ONLY_KEYS = ("id", "parent", "parent_id", "layer_id", "throwaway", "Size")
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip header and trailer, not raw zlib


@dataclass(frozen=True)
class Schema1Conversion:
    manifest: Manifest    # the Docker schema 2 manifest
    config: bytes         # the config blob it names
    config_digest: str
    layers: list          # layer descriptors, oldest first, throwaway layers left out

    @property
    def platform(self):
        return Platform.from_config(json.loads(self.config))


@dataclass(frozen=True)
class _Schema1Layer:
    """One fsLayers entry with its parsed history v1Compatibility."""

    blob_sum: str
    v1: dict

    @property
    def throwaway(self):
        return bool(self.v1.get("throwaway"))


def _malformed(manifest, cause):
    return HangarError("Error converting schema 1 manifest %s to schema 2: %s" % (manifest.digest, cause))


def _parse_layers(manifest):
    """The layers, oldest first, validated and with repeated v1 ids collapsed."""
    doc = manifest.doc
    if not isinstance(doc, dict) or doc.get("schemaVersion") != 1:
        raise _malformed(manifest, "schemaVersion is not 1")
    fs_layers = doc.get("fsLayers")
    history = doc.get("history")
    if not isinstance(fs_layers, list) or not isinstance(history, list):
        raise _malformed(manifest, "fsLayers and history must be lists")
    if not fs_layers:
        raise _malformed(manifest, "fsLayers is empty")
    if len(fs_layers) != len(history):
        raise _malformed(manifest, "%d fsLayers but %d history entries" % (len(fs_layers), len(history)))
    layers = []
    for number, (fs_layer, entry) in enumerate(zip(fs_layers, history)):
        blob_sum = fs_layer.get("blobSum") if isinstance(fs_layer, dict) else None
        if not isinstance(blob_sum, str) or not DIGEST_RE.match(blob_sum):
            raise _malformed(manifest, "fsLayers[%d].blobSum %r is not a sha256 digest" % (number, blob_sum))
        raw = entry.get("v1Compatibility") if isinstance(entry, dict) else None
        try:
            v1 = json.loads(raw)
        except (TypeError, ValueError):
            v1 = None
        if not isinstance(v1, dict):
            raise _malformed(manifest, "history[%d].v1Compatibility is not a JSON object" % number)
        if not isinstance(v1.get("id"), str) or not _V1_ID_RE.match(v1["id"]):
            raise _malformed(manifest, "history[%d] has an invalid v1 id %r" % (number, v1.get("id")))
        layers.append(_Schema1Layer(blob_sum, v1))
    return _collapse_repeated_ids(manifest, layers)


def _collapse_repeated_ids(manifest, layers):
    """Docker's rule: an id repeated by its neighbour is one layer listed twice (the older entry
    is kept); any other repeat, or a broken parent chain, is an invalid manifest. Takes the
    layers newest first, as listed, and returns them oldest first."""
    if layers[-1].v1.get("parent"):
        raise _malformed(manifest, "the base layer has a parent")
    seen = set()
    previous = None
    for layer in layers:
        if layer.v1["id"] in seen and layer.v1["id"] != previous:
            raise _malformed(manifest, "v1 id %s appears more than once" % layer.v1["id"])
        seen.add(layer.v1["id"])
        previous = layer.v1["id"]
    kept = [layers[-1]]
    for layer in reversed(layers[:-1]):
        older = kept[-1]
        if layer.v1["id"] == older.v1["id"]:
            continue
        if layer.v1.get("parent") != older.v1["id"]:
            raise _malformed(manifest, "v1 id %s has parent %r, expected %s"
                             % (layer.v1["id"], layer.v1.get("parent"), older.v1["id"]))
        kept.append(layer)
    return kept


class _GunzipDigester:
    """The sha256 of the uncompressed content and the compressed size of a gzip stream fed in
    chunks. Concatenated gzip members are one stream, as Go's gzip reader (and so Docker) reads
    them; output is produced CHUNK_SIZE at a time, so a gzip bomb does not fill memory."""

    def __init__(self):
        self._hash = hashlib.sha256()
        self._decompressor = zlib.decompressobj(_GZIP_WBITS)
        self.compressed_size = 0

    def update(self, data):
        self.compressed_size += len(data)
        while data:
            if self._decompressor.eof:
                self._decompressor = zlib.decompressobj(_GZIP_WBITS)
            self._hash.update(self._decompressor.decompress(data, CHUNK_SIZE))
            data = self._decompressor.unconsumed_tail or self._decompressor.unused_data

    def diff_id(self):
        self._hash.update(self._decompressor.flush())
        if not self._decompressor.eof:
            raise zlib.error("unexpected end of data")
        return "sha256:" + self._hash.hexdigest()


def _measure_layer(stream, digest):
    """(diff_id, compressed size) of a layer; reads to EOF, so a verifying stream checks it."""
    digester = _GunzipDigester()
    try:
        while True:
            chunk = stream.read(CHUNK_SIZE)
            if not chunk:
                break
            digester.update(chunk)
        return digester.diff_id(), digester.compressed_size
    except zlib.error as exc:
        raise HangarError("Error converting schema 1 layer %s: not valid gzip data (%s)" % (digest, exc)) from exc


def _history_entry(v1):
    command = (v1.get("container_config") or {}).get("Cmd") or []
    if isinstance(command, str):
        command = [command]
    entry = {"created": v1.get("created") or "0001-01-01T00:00:00Z"}
    for key, value in (("author", v1.get("author")), ("created_by", " ".join(command)),
                       ("comment", v1.get("comment")), ("empty_layer", bool(v1.get("throwaway")))):
        if value:
            entry[key] = value
    return entry


def _go_json(value):
    """Compact JSON escaped as Go's json.Marshal escapes it, so that, for the usual input written
    by Docker, the config comes out byte for byte as containers/image converts it."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode("utf-8")


def _config_bytes(newest, layers, diff_ids):
    """The newest v1Compatibility without its v1 ids, plus history and rootfs. Top-level keys are
    sorted and nested objects keep their order, as containers/image writes them."""
    config = {k: v for k, v in newest.v1.items() if k not in _V1_ONLY_KEYS}
    config["history"] = [_history_entry(layer.v1) for layer in layers]
    config["rootfs"] = {"type": "layers", "diff_ids": diff_ids} if diff_ids else {"type": "layers"}
    return _go_json(dict(sorted(config.items())))


def _manifest_bytes(config_descriptor, layer_descriptors):
    return _go_json({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_V2,
        "config": config_descriptor,
        "layers": layer_descriptors,
    })


def convert_schema1(manifest, open_layer):
    """Convert a schema 1 Manifest to Docker schema 2.

    open_layer(digest) must return a context manager yielding a readable stream of that
    compressed layer which verifies its digest as it is read (the stores' open_blob do). Each
    distinct non-throwaway layer is read once, to compute its diff_id and size; nothing is held
    in memory. Raises HangarError for a malformed manifest or a layer that cannot be read.
    """
    layers = _parse_layers(manifest)
    measured = {}
    layer_descriptors = []
    diff_ids = []
    for layer in layers:
        if layer.throwaway:
            continue
        if layer.blob_sum not in measured:
            with open_layer(layer.blob_sum) as stream:
                measured[layer.blob_sum] = _measure_layer(stream, layer.blob_sum)
        diff_id, size = measured[layer.blob_sum]
        layer_descriptors.append({"mediaType": DOCKER_LAYER, "size": size, "digest": layer.blob_sum})
        diff_ids.append(diff_id)
    config = _config_bytes(layers[-1], layers, diff_ids)
    config_digest = sha256_digest(config)
    config_descriptor = {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": config_digest}
    converted = Manifest.from_bytes(_manifest_bytes(config_descriptor, layer_descriptors), DOCKER_MANIFEST_V2)
    return Schema1Conversion(converted, config, config_digest, layer_descriptors)
