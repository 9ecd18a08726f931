"""Simple-signing payloads: what we write, and containers/image's strict reading rules (SIGNING.md §1.3)."""

import json

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import SigningError
from ansible_collections.airgap.hangar.plugins.module_utils._image import artifact_tags
from ansible_collections.airgap.hangar.plugins.module_utils._signing import sig_manifest
from ansible_collections.airgap.hangar.plugins.module_utils._signing.payload import make_payload, parse_payload
from tests.support.cosign_files import cosign_payload

DIGEST = "sha256:" + "ab" * 32


def test_written_payload_is_compact_sorted_and_reads_back():
    data = make_payload("127.0.0.1:5000/test/hello:v2", DIGEST, timestamp=1763794841)
    assert data == (b'{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/test/hello:v2"},'
                    b'"image":{"docker-manifest-digest":"' + DIGEST.encode() + b'"},'
                    b'"type":"cosign container image signature"},'
                    b'"optional":{"creator":"airgap.hangar","timestamp":1763794841}}')
    claims = parse_payload(data)
    assert (claims.digest, claims.identity, claims.timestamp) == (DIGEST, "127.0.0.1:5000/test/hello:v2", 1763794841)


def test_cosign_payloads_with_null_optional_read():
    claims = parse_payload(cosign_payload(DIGEST, "192.168.64.2:5000/cosign-signed-single-sample"))
    assert claims.identity == "192.168.64.2:5000/cosign-signed-single-sample"
    assert parse_payload(cosign_payload(DIGEST, "r/x", {"anything": [1, 2]})).creator is None


def doc(**changes):
    base = {"critical": {"identity": {"docker-reference": "r/x:1"}, "image": {"docker-manifest-digest": DIGEST},
                         "type": "cosign container image signature"}, "optional": None}
    for path, value in changes.items():
        target = base
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[key]
        if value is KeyError:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return json.dumps(base).encode()


@pytest.mark.parametrize("data, message", [
    pytest.param(b"not json", "not JSON", id="not-json"),
    pytest.param(b"[]", "the payload is not a JSON object", id="array"),
    pytest.param(doc(extra=1), r"the payload has unknown keys \['extra'\]", id="extra-top"),
    pytest.param(doc(optional=KeyError), r"the payload has no \['optional'\]", id="no-optional"),
    pytest.param(doc(critical__extra=1), r"critical has unknown keys \['extra'\]", id="extra-critical"),
    pytest.param(doc(critical__type="atomic container signature"), "critical.type is 'atomic", id="type"),
    pytest.param(doc(critical__image__x=1), r"critical.image has unknown keys \['x'\]", id="extra-image"),
    pytest.param(doc(critical__identity__x=1), r"critical.identity has unknown keys", id="extra-identity"),
    pytest.param(doc(critical__image__docker_manifest_digest=1), "critical.image has unknown keys", id="misspelt"),
    pytest.param(doc(**{"critical__image__docker-manifest-digest": "sha256:12"}), "is not a digest", id="digest"),
    pytest.param(doc(**{"critical__identity__docker-reference": 5}), "docker-reference is not a string", id="ref"),
    pytest.param(doc(optional=[]), "optional is neither null nor an object", id="optional-list"),
    pytest.param(doc(optional={"timestamp": "1"}), "optional.timestamp is not an integer", id="timestamp-str"),
    pytest.param(doc(optional={"timestamp": 1.5}), "optional.timestamp is not an integer", id="timestamp-float"),
    pytest.param(doc(optional={"creator": 1}), "optional.creator is not a string", id="creator"),
    pytest.param(b'{"critical":{},"critical":{},"optional":null}', "duplicate key 'critical'", id="duplicate"),
])
def test_strict_rules(data, message):
    with pytest.raises(SigningError, match="invalid signature payload: .*" + message):
        parse_payload(data)


def test_unknown_optional_keys_are_ignored():
    assert parse_payload(doc(optional={"creator": "c", "timestamp": 5, "x": {"y": 1}})).creator == "c"


def test_signature_tags():
    assert sig_manifest.signature_tag(DIGEST) == "sha256-" + "ab" * 32 + ".sig"
    assert artifact_tags.attachment_tag(DIGEST, ".att") == "sha256-" + "ab" * 32 + ".att"


def test_adding_signatures_appends_layers_and_diff_ids():
    payload = make_payload("r/x:1", DIGEST, timestamp=1)
    first = sig_manifest.add_signature(None, None, payload, b"\x30\x01")
    manifest = json.loads(first.manifest)
    assert list(manifest) == ["schemaVersion", "mediaType", "config", "layers"]
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    layer = manifest["layers"][0]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert layer["annotations"] == {"dev.cosignproject.cosign/signature": "MAE="}
    assert layer["size"] == len(payload) and first.blobs[layer["digest"]] == payload
    config = json.loads(first.blobs[manifest["config"]["digest"]])
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layer["digest"]]}
    again = sig_manifest.add_signature(manifest, first.blobs[manifest["config"]["digest"]], payload, b"\x30\x01")
    assert not again.added
    other = make_payload("r/x:1", DIGEST, timestamp=2)
    second = sig_manifest.add_signature(manifest, first.blobs[manifest["config"]["digest"]], other, b"\x30\x02")
    doc2 = json.loads(second.manifest)
    assert [layer["digest"] for layer in doc2["layers"]][0] == layer["digest"] and len(doc2["layers"]) == 2
    assert len(json.loads(second.blobs[doc2["config"]["digest"]])["rootfs"]["diff_ids"]) == 2
    assert [s.signature for s in sig_manifest.signature_layers(doc2)] == [b"\x30\x01", b"\x30\x02"]


def test_a_sig_tag_holding_an_index_is_not_appended_to():
    with pytest.raises(SigningError, match="something else than an OCI image manifest"):
        sig_manifest.add_signature({"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []},
                                   None, b"{}", b"\x30")
