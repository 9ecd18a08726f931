"""Docker schema 1 to schema 2 conversion, from real gzip'd tar layers."""

import contextlib
import gzip
import hashlib
import io
import json
import tarfile

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import DigestMismatchError, HangarError
from ansible_collections.airgap.hangar.plugins.module_utils._image.digest import VerifyingReader, sha256_digest
from ansible_collections.airgap.hangar.plugins.module_utils._image.manifest import Manifest
from ansible_collections.airgap.hangar.plugins.module_utils._image.media_types import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST_V1,
    DOCKER_MANIFEST_V1_SIGNED,
    DOCKER_MANIFEST_V2,
)
from ansible_collections.airgap.hangar.plugins.module_utils._image.platform import Platform
from ansible_collections.airgap.hangar.plugins.module_utils._image.schema1 import convert_schema1


def tar_of(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 1700000000
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class Layer:
    def __init__(self, tar, blob=None):
        self.tar = tar
        self.blob = gzip.compress(tar, mtime=0) if blob is None else blob
        self.digest = sha256_digest(self.blob)
        self.diff_id = sha256_digest(tar)


BASE = Layer(tar_of({"etc/os-release": b"ID=test\n", "bin/sh": b"#!fake shell\n" * 100}))
APP = Layer(tar_of({"app/run": b"print('hello')\n"}))
EMPTY = Layer(b"\0" * 1024)  # the blob Docker lists for throwaway layers
# More than one CHUNK_SIZE out of one small compressed chunk, in two gzip members.
BIG_TAR = tar_of({"big/zeros": b"\0" * (3 * 1024 * 1024)})
TWO_MEMBERS = Layer(BIG_TAR, gzip.compress(BIG_TAR[:5000], mtime=0) + gzip.compress(BIG_TAR[5000:], mtime=0))


def v1_id(name):
    return hashlib.sha256(name.encode()).hexdigest()


def v1_entry(name, parent=None, cmd=None, throwaway=False, **extra):
    entry = {"id": v1_id(name), "created": "2016-06-0%dT12:00:00.000000001Z" % (len(name) % 9 + 1)}
    if parent:
        entry["parent"] = v1_id(parent)
    if cmd:
        entry["container_config"] = {"Cmd": cmd}
    if throwaway:
        entry["throwaway"] = True
    entry.update(extra)
    return entry


NEWEST_CONFIG = {
    "architecture": "arm",
    "variant": "v7",
    "os": "linux",
    "author": "someone <someone@example.com>",
    "docker_version": "1.12.0",
    "config": {"Cmd": ["/app/run"], "Env": ["PATH=/usr/bin"], "Labels": {"a": "b"}},
    "container": "3e2b8a8b8b1f",
    "Size": 15,
}

# (layer, v1Compatibility), oldest first; the manifest lists them the other way round.
IMAGE = [
    (BASE, v1_entry("base", cmd=["/bin/sh", "-c", "#(nop) ADD file:abc in /"])),
    (EMPTY, v1_entry("cmd", parent="base", cmd=["/bin/sh", "-c", "#(nop) CMD [\"sh\"]"], throwaway=True,
                     comment="a throwaway layer")),
    (APP, v1_entry("app", parent="cmd", cmd=["/bin/sh", "-c", "cp run /app/"], **NEWEST_CONFIG)),
]


def schema1_doc(image, signed=False):
    doc = {
        "schemaVersion": 1,
        "name": "library/test",
        "tag": "latest",
        "architecture": "arm",
        "fsLayers": [{"blobSum": layer.digest} for layer, _unused in reversed(image)],
        "history": [{"v1Compatibility": json.dumps(v1)} for _unused, v1 in reversed(image)],
    }
    if signed:
        doc["signatures"] = [{
            "header": {"jwk": {"crv": "P-256", "kid": "ABCD:EFGH", "kty": "EC", "x": "x", "y": "y"}, "alg": "ES256"},
            "signature": "c2lnbmF0dXJl",
            "protected": "eyJmb3JtYXRMZW5ndGgiOjEyMywiZm9ybWF0VGFpbCI6IkNuMCJ9",
        }]
    return doc


def schema1_manifest(image, signed=False):
    return Manifest.from_bytes(json.dumps(schema1_doc(image, signed), indent=3).encode())


class TrickleReader:
    """A stream that hands out a few bytes at a time, as a slow network would."""

    def __init__(self, data, step=7):
        self._data = io.BytesIO(data)
        self._step = step

    def read(self, n=-1):
        return self._data.read(min(n, self._step) if n and n > 0 else self._step)


class LayerSource:
    def __init__(self, layers, trickle=False):
        self.blobs = {layer.digest: layer.blob for layer in layers}
        self.trickle = trickle
        self.opened = []

    @contextlib.contextmanager
    def open_layer(self, digest):
        self.opened.append(digest)
        blob = self.blobs[digest]
        source = TrickleReader(blob) if self.trickle else io.BytesIO(blob)
        yield VerifyingReader(source, digest, len(blob))


def convert(image, signed=False, trickle=False):
    source = LayerSource([layer for layer, _unused in image], trickle)
    return convert_schema1(schema1_manifest(image, signed), source.open_layer), source


@pytest.mark.parametrize("signed", [pytest.param(False, id="unsigned"), pytest.param(True, id="signed")])
def test_schema1_media_type_is_detected(signed):
    expected = DOCKER_MANIFEST_V1_SIGNED if signed else DOCKER_MANIFEST_V1
    assert schema1_manifest(IMAGE, signed).media_type == expected


@pytest.mark.parametrize("signed", [pytest.param(False, id="unsigned"), pytest.param(True, id="signed")])
def test_converted_manifest_is_docker_v2(signed):
    result, _unused = convert(IMAGE, signed)
    manifest = result.manifest
    assert manifest.media_type == DOCKER_MANIFEST_V2
    assert manifest.digest == sha256_digest(manifest.data)
    assert Manifest.from_bytes(manifest.data) == manifest
    doc = json.loads(manifest.data)
    assert doc["schemaVersion"] == 2
    assert doc["mediaType"] == DOCKER_MANIFEST_V2
    assert doc["config"] == {"mediaType": DOCKER_CONFIG, "size": len(result.config), "digest": result.config_digest}
    assert result.config_digest == sha256_digest(result.config)
    assert doc["layers"] == result.layers


def test_signature_does_not_change_the_result():
    unsigned, _unused = convert(IMAGE, signed=False)
    signed, _unused = convert(IMAGE, signed=True)
    assert signed == unsigned


def test_layers_oldest_first_without_throwaway():
    result, source = convert(IMAGE)
    assert result.layers == [
        {"mediaType": DOCKER_LAYER, "size": len(BASE.blob), "digest": BASE.digest},
        {"mediaType": DOCKER_LAYER, "size": len(APP.blob), "digest": APP.digest},
    ]
    assert EMPTY.digest not in source.opened


def test_config_diff_ids_and_history():
    result, _unused = convert(IMAGE)
    config = json.loads(result.config)
    assert config["rootfs"] == {"type": "layers", "diff_ids": [BASE.diff_id, APP.diff_id]}
    assert config["history"] == [
        {"created": IMAGE[0][1]["created"], "created_by": "/bin/sh -c #(nop) ADD file:abc in /"},
        {"created": IMAGE[1][1]["created"], "created_by": "/bin/sh -c #(nop) CMD [\"sh\"]",
         "comment": "a throwaway layer", "empty_layer": True},
        {"created": IMAGE[2][1]["created"], "author": "someone <someone@example.com>",
         "created_by": "/bin/sh -c cp run /app/"},
    ]


def test_config_keeps_the_newest_v1_compatibility():
    result, _unused = convert(IMAGE)
    config = json.loads(result.config)
    for key in ("architecture", "variant", "os", "author", "docker_version", "config", "container", "created"):
        assert config[key] == IMAGE[2][1][key], key
    for v1_only in ("id", "parent", "throwaway", "Size"):
        assert v1_only not in config
    assert result.platform == Platform(os="linux", architecture="arm", variant="v7")


def test_config_bytes_as_containers_image_writes_them():
    # Top-level keys sorted (a Go map), nested objects in their given order (raw JSON), history and
    # rootfs in Go struct order, and &, <, > escaped as Go's json.Marshal does.
    v1 = {"id": v1_id("only"), "os": "linux", "architecture": "amd64", "created": "2016-06-01T12:00:00Z",
          "config": {"Env": ["A=1"], "Cmd": ["sh"]}, "container_config": {"Cmd": ["/bin/sh", "-c", "a && b > c"]}}
    result, _unused = convert([(BASE, v1)])
    assert result.config == (
        '{"architecture":"amd64","config":{"Env":["A=1"],"Cmd":["sh"]},'
        '"container_config":{"Cmd":["/bin/sh","-c","a \\u0026\\u0026 b \\u003e c"]},"created":"2016-06-01T12:00:00Z",'
        '"history":[{"created":"2016-06-01T12:00:00Z","created_by":"/bin/sh -c a \\u0026\\u0026 b \\u003e c"}],'
        '"os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' % BASE.diff_id).encode()
    assert result.manifest.data == (
        '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","size":%d,"digest":"%s"},'
        '"layers":[{"mediaType":"%s","size":%d,"digest":"%s"}]}' % (
            DOCKER_MANIFEST_V2, DOCKER_CONFIG, len(result.config), result.config_digest,
            DOCKER_LAYER, len(BASE.blob), BASE.digest)).encode()


def test_only_throwaway_layers_gives_no_diff_ids():
    result, source = convert([(EMPTY, v1_entry("nothing", throwaway=True))])
    assert json.loads(result.config)["rootfs"] == {"type": "layers"}
    assert result.layers == []
    assert source.opened == []


@pytest.mark.parametrize("trickle", [pytest.param(False, id="whole-chunks"), pytest.param(True, id="7-byte-reads")])
def test_multi_member_gzip_bigger_than_a_chunk(trickle):
    image = [(TWO_MEMBERS, v1_entry("big"))]
    result, _unused = convert(image, trickle=trickle)
    assert json.loads(result.config)["rootfs"]["diff_ids"] == [TWO_MEMBERS.diff_id]
    assert result.layers[0]["size"] == len(TWO_MEMBERS.blob)


def test_a_layer_listed_twice_is_read_once_and_kept_twice():
    image = [(BASE, v1_entry("one")), (BASE, v1_entry("two", parent="one"))]
    result, source = convert(image)
    assert source.opened == [BASE.digest]
    assert [layer["digest"] for layer in result.layers] == [BASE.digest, BASE.digest]
    assert json.loads(result.config)["rootfs"]["diff_ids"] == [BASE.diff_id, BASE.diff_id]


def test_repeated_neighbour_id_is_one_layer():
    # Neighbours with the same v1 id are one layer listed twice; Docker keeps the older entry.
    image = [(BASE, v1_entry("base", cmd=["first"])), (BASE, v1_entry("base", cmd=["again"])),
             (APP, v1_entry("app", parent="base"))]
    result, _unused = convert(image)
    config = json.loads(result.config)
    assert config["rootfs"]["diff_ids"] == [BASE.diff_id, APP.diff_id]
    assert [entry.get("created_by") for entry in config["history"]] == ["first", None]


def test_a_blob_that_does_not_match_its_digest_fails():
    source = LayerSource([BASE, APP])
    source.blobs[APP.digest] = gzip.compress(b"something else")
    with pytest.raises(DigestMismatchError):
        convert_schema1(schema1_manifest(IMAGE), source.open_layer)


def doc_with(change):
    doc = schema1_doc(IMAGE)
    change(doc)
    return doc


def set_v1(index, **values):
    def change(doc):
        v1 = json.loads(doc["history"][index]["v1Compatibility"])
        v1.update(values)
        doc["history"][index]["v1Compatibility"] = json.dumps(v1)
    return change


MALFORMED = [
    pytest.param(doc_with(lambda d: d.update(fsLayers=[], history=[])), "fsLayers is empty", id="no-layers"),
    pytest.param(doc_with(lambda d: d.pop("history")), "must be lists", id="no-history"),
    pytest.param(doc_with(lambda d: d["history"].pop()), "3 fsLayers but 2 history entries", id="lengths-differ"),
    pytest.param(doc_with(lambda d: d["fsLayers"][0].update(blobSum="sha256:nothex")), "fsLayers[0].blobSum",
                 id="bad-blob-sum"),
    pytest.param(doc_with(lambda d: d["history"][1].update(v1Compatibility="{not json")),
                 "history[1].v1Compatibility is not a JSON object", id="v1-not-json"),
    pytest.param(doc_with(lambda d: d["history"][1].update(v1Compatibility="[]")),
                 "history[1].v1Compatibility is not a JSON object", id="v1-not-an-object"),
    pytest.param(doc_with(set_v1(0, id="short")), "history[0] has an invalid v1 id 'short'", id="bad-v1-id"),
    pytest.param(doc_with(set_v1(2, parent=v1_id("ghost"))), "the base layer has a parent", id="base-with-parent"),
    pytest.param(doc_with(set_v1(0, parent=v1_id("ghost"))), "has parent", id="broken-parent-chain"),
    pytest.param(doc_with(set_v1(0, id=v1_id("base"))), "appears more than once", id="id-repeated-apart"),
]


@pytest.mark.parametrize("doc, message", MALFORMED)
def test_malformed_schema1_manifest(doc, message):
    manifest = Manifest.from_bytes(json.dumps(doc).encode())
    with pytest.raises(HangarError) as error:
        convert_schema1(manifest, LayerSource([BASE, APP, EMPTY]).open_layer)
    assert message in str(error.value)
    assert str(error.value).startswith("Error converting schema 1 manifest %s to schema 2: " % manifest.digest)


@pytest.mark.parametrize("blob, message", [
    pytest.param(BASE.tar, "not valid gzip data", id="not-gzip"),
    pytest.param(BASE.blob[:len(BASE.blob) // 2], "not valid gzip data (unexpected end of data)", id="truncated"),
    pytest.param(b"", "not valid gzip data", id="empty"),
    pytest.param(BASE.blob + b"garbage", "not valid gzip data", id="trailing-garbage"),
])
def test_layer_that_is_not_gzip(blob, message):
    layer = Layer(BASE.tar, blob)
    image = [(layer, v1_entry("base"))]
    with pytest.raises(HangarError) as error:
        convert(image)
    assert str(error.value).startswith("Error converting schema 1 layer %s: " % layer.digest)
    assert message in str(error.value)
