"""Media type detection and digest verification while streaming."""

import hashlib
import io
import json

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import (
    DigestMismatchError,
    InputError,
    UnsupportedMediaTypeError,
)
from ansible_collections.airgap.hangar.plugins.module_utils._image.digest import (
    VerifyingReader,
    digest_hex,
    sha256_digest,
    validate_digest,
    verify_bytes,
)
from ansible_collections.airgap.hangar.plugins.module_utils._image.media_types import (
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V1,
    DOCKER_MANIFEST_V1_SIGNED,
    DOCKER_MANIFEST_V2,
    OCI_INDEX,
    OCI_MANIFEST,
    detect_media_type,
)

CONFIG = {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2, "digest": "sha256:" + "0" * 64}
HELM_CONFIG = dict(CONFIG, mediaType="application/vnd.cncf.helm.config.v1+json")


def as_bytes(doc):
    return json.dumps(doc).encode()


@pytest.mark.parametrize("data, declared, expected", [
    pytest.param(as_bytes({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}), None, OCI_INDEX,
                 id="oci-index-field"),
    pytest.param(as_bytes({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": []}), None,
                 DOCKER_MANIFEST_LIST, id="docker-list-field"),
    pytest.param(as_bytes({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_V2, "config": CONFIG, "layers": []}),
                 OCI_MANIFEST, DOCKER_MANIFEST_V2, id="field-wins-over-declared"),
    pytest.param(as_bytes({"schemaVersion": 2, "config": CONFIG, "layers": []}), OCI_MANIFEST + "; charset=utf-8",
                 OCI_MANIFEST, id="declared-with-parameters"),
    pytest.param(as_bytes({"schemaVersion": 2, "config": CONFIG, "layers": []}), None, OCI_MANIFEST,
                 id="oci-manifest-by-structure"),
    pytest.param(as_bytes({"schemaVersion": 2, "manifests": []}), None, OCI_INDEX, id="oci-index-by-structure"),
    pytest.param(as_bytes({"schemaVersion": 2, "manifests": []}), "text/plain", OCI_INDEX,
                 id="structure-over-useless-declared"),
    pytest.param(as_bytes({"schemaVersion": 1, "fsLayers": [], "history": []}), None, DOCKER_MANIFEST_V1,
                 id="schema1-unsigned"),
    pytest.param(as_bytes({"schemaVersion": 1, "fsLayers": [], "history": [], "signatures": []}),
                 DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED, id="schema1-signed"),
    pytest.param(as_bytes({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": HELM_CONFIG, "layers": []}),
                 None, OCI_MANIFEST, id="helm-chart-artifact"),
])
def test_detect_media_type(data, declared, expected):
    assert detect_media_type(data, declared) == expected


@pytest.mark.parametrize("data, declared, named", [
    pytest.param(as_bytes({"schemaVersion": 2, "mediaType": "application/vnd.docker.plugin.v1+json"}), None,
                 "application/vnd.docker.plugin.v1+json", id="unknown-media-type-field"),
    pytest.param(as_bytes({"mediaType": "application/vnd.oci.artifact.manifest.v1+json", "blobs": []}), None,
                 "application/vnd.oci.artifact.manifest.v1+json", id="oci-artifact-manifest"),
    pytest.param(as_bytes({"schemaVersion": 2}), "application/x-custom", "application/x-custom",
                 id="unknown-declared"),
    pytest.param(as_bytes({"schemaVersion": 2}), None, "unknown", id="nothing-to-go-by"),
    pytest.param(b"<html>not json</html>", "text/html", "text/html", id="not-json-declared"),
    pytest.param(b"not json", None, "unknown (not JSON)", id="not-json"),
    pytest.param(b"[1, 2]", None, "unknown (not a JSON object)", id="not-an-object"),
])
def test_detect_unsupported_media_type(data, declared, named):
    with pytest.raises(UnsupportedMediaTypeError) as error:
        detect_media_type(data, declared)
    assert str(error.value) == 'unsupported MIME type "%s"' % named
    assert error.value.media_type == named


DATA = b"0123456789" * 1000
DIGEST = sha256_digest(DATA)


def chunks(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def read_all(reader, n):
    parts = []
    while True:
        chunk = reader.read(n)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


@pytest.mark.parametrize("source, size, read_size", [
    pytest.param(lambda: io.BytesIO(DATA), len(DATA), 4096, id="file-with-size"),
    pytest.param(lambda: io.BytesIO(DATA), None, 333, id="file-without-size"),
    pytest.param(lambda: iter(chunks(DATA, 1000)), len(DATA), 300, id="iterable-smaller-reads"),
    pytest.param(lambda: iter(chunks(DATA, 700)), len(DATA), 5000, id="iterable-bigger-reads"),
    pytest.param(lambda: iter(chunks(DATA, 1000)[:3] + [b""] + chunks(DATA, 1000)[3:]), len(DATA), 1000,
                 id="iterable-with-empty-chunk"),
    pytest.param(lambda: io.BytesIO(b""), 0, 10, id="empty"),
])
def test_verifying_reader_match(source, size, read_size):
    data = DATA if size != 0 else b""
    reader = VerifyingReader(source(), sha256_digest(data), size)
    assert read_all(reader, read_size) == data
    assert reader.verified
    assert reader.bytes_read == len(data)
    assert reader.read(10) == b""


@pytest.mark.parametrize("source, digest, size, expected, actual", [
    pytest.param(DATA[:-1] + b"X", DIGEST, len(DATA), DIGEST, sha256_digest(DATA[:-1] + b"X"),
                 id="mismatch-at-eof"),
    pytest.param(DATA + b"more", DIGEST, len(DATA), "%s (%d bytes)" % (DIGEST, len(DATA)),
                 "more than %d bytes" % len(DATA), id="more-than-size"),
    pytest.param(DATA, DIGEST, len(DATA) + 1, "%s (%d bytes)" % (DIGEST, len(DATA) + 1), "%d bytes" % len(DATA),
                 id="short-of-size"),
    pytest.param(DATA[:100], DIGEST, None, DIGEST, sha256_digest(DATA[:100]), id="truncated-without-size"),
])
@pytest.mark.parametrize("as_iterable", [pytest.param(False, id="file"), pytest.param(True, id="iterable")])
def test_verifying_reader_mismatch(source, digest, size, expected, actual, as_iterable):
    reader = VerifyingReader(iter(chunks(source, 512)) if as_iterable else io.BytesIO(source), digest, size,
                             what="layer")
    with pytest.raises(DigestMismatchError) as error:
        read_all(reader, 512)
    assert (error.value.expected, error.value.actual) == (expected, actual)
    assert str(error.value).startswith("digest mismatch for layer: ")
    assert not reader.verified


def test_verifying_reader_fails_before_reading_everything_from_a_liar():
    reader = VerifyingReader(io.BytesIO(DATA * 100), DIGEST, len(DATA))
    with pytest.raises(DigestMismatchError):
        read_all(reader, 1024)
    assert reader.bytes_read <= len(DATA) + 1024


def test_verifying_reader_iteration_and_read_all():
    assert b"".join(VerifyingReader(io.BytesIO(DATA), DIGEST, len(DATA))) == DATA
    assert VerifyingReader(iter([DATA]), DIGEST).read_all_verified() == DATA


@pytest.mark.parametrize("n", [None, -1])
def test_verifying_reader_read_without_size_reads_a_chunk(n):
    reader = VerifyingReader(io.BytesIO(DATA), DIGEST, len(DATA))
    assert reader.read(n) == DATA


def test_verifying_reader_length_is_the_announced_size():
    assert len(VerifyingReader(io.BytesIO(DATA), DIGEST, len(DATA))) == len(DATA)
    with pytest.raises(TypeError):
        len(VerifyingReader(io.BytesIO(DATA), DIGEST))


@pytest.mark.parametrize("digest", [
    pytest.param("sha256:" + "A" * 64, id="uppercase"),
    pytest.param("sha256:" + "a" * 63, id="short"),
    pytest.param("sha512:" + "a" * 128, id="other-algorithm"),
    pytest.param("a" * 64, id="no-algorithm"),
    pytest.param(None, id="none"),
])
def test_invalid_digest(digest):
    with pytest.raises(InputError, match="invalid digest"):
        validate_digest(digest)
    with pytest.raises(InputError):
        VerifyingReader(io.BytesIO(b""), digest)


def test_digest_helpers():
    assert sha256_digest(b"") == "sha256:" + hashlib.sha256(b"").hexdigest()
    assert digest_hex(DIGEST) == hashlib.sha256(DATA).hexdigest()
    assert verify_bytes(DATA, DIGEST) == DATA
    with pytest.raises(DigestMismatchError, match="digest mismatch for config"):
        verify_bytes(b"other", DIGEST, what="config")
