"""The destination-index merge (BEHAVIOUR.md, "Destination index")."""

import copy
import hashlib
import json

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._image.digest import DIGEST_RE
from ansible_collections.airgap.hangar.plugins.module_utils._image.index_merge import (
    build_index,
    merge_descriptors,
    platform_descriptor,
    same_descriptors,
)
from ansible_collections.airgap.hangar.plugins.module_utils._image.manifest import Manifest
from ansible_collections.airgap.hangar.plugins.module_utils._image.media_types import (
    DOCKER_MANIFEST_V2,
    OCI_INDEX,
    OCI_MANIFEST,
)
from ansible_collections.airgap.hangar.plugins.module_utils._image.platform import Platform


def digest_of(name):
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def entry(name, os="linux", arch="amd64", variant=None, os_version=None, annotations=None):
    platform = {"architecture": arch, "os": os}
    if variant:
        platform["variant"] = variant
    if os_version:
        platform["os.version"] = os_version
    result = {"mediaType": OCI_MANIFEST, "digest": digest_of(name), "size": 500 + len(name), "platform": platform}
    if annotations:
        result["annotations"] = annotations
    return result


def attestation(name, subject):
    return entry(name, os="unknown", arch="unknown", annotations={
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": subject["digest"],
    })


def artifact(name):
    return {"mediaType": OCI_MANIFEST, "digest": digest_of(name), "size": 300}


AMD64 = entry("amd64")
AMD64_NEW = entry("amd64-rebuilt")
AMD64_ZSTD = entry("amd64-zstd", annotations={"io.github.containers.compression.zstd": "true"})
ARM64 = entry("arm64", arch="arm64")
ARM64_V8 = entry("arm64-v8", arch="arm64", variant="v8")
ARM_V7 = entry("arm-v7", arch="arm", variant="v7")
ARM_V6 = entry("arm-v6", arch="arm", variant="v6")
S390X = entry("s390x", arch="s390x")
PPC64LE = entry("ppc64le", arch="ppc64le")
WIN_1809 = entry("win-1809", os="windows", os_version="10.0.17763.5576")
WIN_1809_NEW = entry("win-1809-rebuilt", os="windows", os_version="10.0.17763.5576")
WIN_2022 = entry("win-2022", os="windows", os_version="10.0.20348.2340")
ATT_AMD64 = attestation("att-amd64", AMD64)
ATT_AMD64_NEW = attestation("att-amd64-again", AMD64)
ATT_AMD64_REBUILT = attestation("att-amd64-rebuilt", AMD64_NEW)
ATT_ARM64 = attestation("att-arm64", ARM64)
ATT_GONE = attestation("att-gone", entry("gone"))
HELM = artifact("helm-chart")
SIGNATURE = artifact("signature")

MERGE_CASES = [
    pytest.param([], [AMD64, ARM64], [AMD64, ARM64], id="nothing-at-destination"),
    pytest.param([AMD64, ARM64], [], [AMD64, ARM64], id="nothing-new-keeps-existing"),
    pytest.param([AMD64, ARM64], [AMD64_NEW], [AMD64_NEW, ARM64], id="same-platform-replaced-in-place"),
    pytest.param([ARM64, AMD64], [AMD64_NEW], [ARM64, AMD64_NEW], id="replaced-where-it-was"),
    pytest.param([AMD64], [ARM64], [AMD64, ARM64], id="amd64-only-then-arm64-only-gives-both"),
    pytest.param([AMD64], [S390X, ARM64, PPC64LE], [AMD64, S390X, ARM64, PPC64LE], id="new-platforms-in-new-order"),
    pytest.param([ARM64_V8], [ARM64], [ARM64], id="arm64-replaces-arm64-v8"),
    pytest.param([ARM64], [ARM64_V8], [ARM64_V8], id="arm64-v8-replaces-arm64"),
    pytest.param([ARM_V7], [ARM_V6], [ARM_V7, ARM_V6], id="arm-variants-are-different-platforms"),
    pytest.param([WIN_1809], [WIN_2022], [WIN_1809, WIN_2022], id="windows-os-version-distinguishes"),
    pytest.param([WIN_1809, WIN_2022], [WIN_1809_NEW], [WIN_1809_NEW, WIN_2022], id="windows-same-os-version-replaced"),
    pytest.param([AMD64], [ARM64, ATT_ARM64], [AMD64, ARM64, ATT_ARM64], id="attestation-added-with-platform"),
    pytest.param([AMD64, ATT_AMD64], [AMD64, ATT_AMD64_NEW], [AMD64, ATT_AMD64_NEW],
                 id="attestation-same-subject-replaced"),
    pytest.param([AMD64, ATT_AMD64], [ARM64], [AMD64, ATT_AMD64, ARM64], id="attestation-of-kept-platform-stays"),
    pytest.param([AMD64, ATT_AMD64], [AMD64_NEW], [AMD64_NEW], id="attestation-pruned-with-its-platform"),
    pytest.param([AMD64, ARM64, ATT_AMD64, ATT_ARM64], [AMD64_NEW, ATT_AMD64_REBUILT],
                 [AMD64_NEW, ARM64, ATT_ARM64, ATT_AMD64_REBUILT], id="attestation-pruned-and-new-one-added"),
    pytest.param([AMD64, ATT_GONE], [], [AMD64], id="orphan-attestation-at-destination-dropped"),
    pytest.param([AMD64], [ATT_GONE], [AMD64], id="new-attestation-without-its-platform-dropped"),
    pytest.param([AMD64, HELM], [SIGNATURE], [AMD64, HELM, SIGNATURE], id="platformless-entries-keyed-by-digest"),
    pytest.param([AMD64, HELM], [HELM], [AMD64, HELM], id="platformless-same-digest-once"),
    pytest.param([AMD64, ARM64, AMD64_ZSTD], [AMD64_NEW], [AMD64_NEW, ARM64],
                 id="all-existing-entries-of-a-platform-replaced"),
    pytest.param([ARM64], [AMD64, PPC64LE, AMD64_ZSTD], [ARM64, AMD64, AMD64_ZSTD, PPC64LE],
                 id="new-entries-of-one-platform-kept-together"),
]


@pytest.mark.parametrize("existing, new, expected", MERGE_CASES)
def test_merge_descriptors(existing, new, expected):
    assert merge_descriptors(existing, new) == expected


@pytest.mark.parametrize("existing, new, expected", MERGE_CASES)
def test_merge_is_idempotent(existing, new, expected):
    merged = merge_descriptors(existing, new)
    assert merge_descriptors(merged, new) == merged
    assert merge_descriptors(merged, []) == merged


@pytest.mark.parametrize("existing, new, expected", MERGE_CASES)
def test_merge_leaves_inputs_alone(existing, new, expected):
    existing_before, new_before = copy.deepcopy(existing), copy.deepcopy(new)
    merge_descriptors(existing, new)
    assert (existing, new) == (existing_before, new_before)


def test_merge_is_deterministic():
    existing = [AMD64, ARM64, ATT_AMD64, ATT_ARM64, WIN_1809, HELM]
    new = [AMD64_NEW, ATT_AMD64_REBUILT, PPC64LE, WIN_2022]
    results = {build_index(merge_descriptors(copy.deepcopy(existing), copy.deepcopy(new))) for _unused in range(5)}
    assert len(results) == 1


def reordered_platform(descriptor):
    """The same descriptor with its platform keys in another order and, if it has none, an empty variant."""
    result = dict(descriptor)
    result["platform"] = dict(reversed(list(descriptor["platform"].items())))
    result["platform"].setdefault("variant", "")
    return result


@pytest.mark.parametrize("a, b, same", [
    pytest.param([AMD64, ARM64], [AMD64, ARM64], True, id="identical"),
    pytest.param([], [], True, id="both-empty"),
    pytest.param([AMD64, ARM64], [ARM64, AMD64], False, id="order-counts"),
    pytest.param([AMD64], [AMD64, ARM64], False, id="entry-added"),
    pytest.param([AMD64], [reordered_platform(AMD64)], True, id="platform-key-order-and-empty-fields-ignored"),
    pytest.param([AMD64], [dict(AMD64, annotations={})], True, id="no-annotations-equals-empty"),
    pytest.param([AMD64], [dict(AMD64, annotations={"a": "b"})], False, id="annotations-differ"),
    pytest.param([AMD64], [dict(AMD64, size=1)], False, id="size-differs"),
    pytest.param([AMD64], [dict(AMD64, mediaType=DOCKER_MANIFEST_V2)], False, id="media-type-differs"),
    pytest.param([AMD64], [dict(AMD64, digest=digest_of("other"))], False, id="digest-differs"),
    pytest.param([ARM64], [dict(ARM64, platform=ARM64_V8["platform"])], False, id="arm64-v8-written-differently"),
    pytest.param([AMD64], [dict(AMD64, urls=["https://example.com/x"])], True, id="other-keys-not-compared"),
])
def test_same_descriptors(a, b, same):
    first, second = a, b
    assert same_descriptors(first, second) is same
    assert same_descriptors(second, first) is same


def test_same_descriptors_after_a_merge_that_changes_nothing():
    existing = [AMD64, ARM64, ATT_AMD64]
    assert same_descriptors(existing, merge_descriptors(existing, [AMD64, ATT_AMD64]))
    assert not same_descriptors(existing, merge_descriptors(existing, [AMD64_NEW]))


BUILD_CASES = [
    pytest.param([], id="empty"),
    pytest.param([AMD64, ARM64_V8], id="platforms"),
    pytest.param([WIN_1809, WIN_2022], id="windows"),
    pytest.param([AMD64, ATT_AMD64], id="with-attestation"),
    pytest.param([AMD64, HELM], id="platformless"),
]


@pytest.mark.parametrize("descriptors", BUILD_CASES)
def test_build_index_is_a_valid_oci_index(descriptors):
    data = build_index(descriptors)
    doc = json.loads(data)
    assert list(doc) == ["schemaVersion", "mediaType", "manifests"]
    assert doc["schemaVersion"] == 2
    assert doc["mediaType"] == OCI_INDEX
    assert doc["manifests"] == descriptors
    for descriptor in doc["manifests"]:
        assert DIGEST_RE.match(descriptor["digest"])
        assert isinstance(descriptor["size"], int)
        assert descriptor["mediaType"]
    manifest = Manifest.from_bytes(data)
    assert manifest.media_type == OCI_INDEX
    assert manifest.children == descriptors


@pytest.mark.parametrize("descriptors", BUILD_CASES)
def test_build_index_is_compact_and_stable(descriptors):
    data = build_index(descriptors)
    assert data == json.dumps(json.loads(data), separators=(",", ":")).encode()
    shuffled = [dict(reversed(list(reordered_platform(d).items()))) if "platform" in d else d for d in descriptors]
    assert build_index(shuffled) == data


def test_build_index_key_order():
    doc = json.loads(build_index([ATT_AMD64]))
    descriptor = doc["manifests"][0]
    assert list(descriptor) == ["mediaType", "digest", "size", "annotations", "platform"]
    assert list(descriptor["annotations"]) == sorted(descriptor["annotations"])
    assert list(json.loads(build_index([WIN_1809]))["manifests"][0]["platform"]) == [
        "architecture", "os", "os.version"]


MANIFEST = Manifest.from_bytes(json.dumps({
    "schemaVersion": 2, "mediaType": DOCKER_MANIFEST_V2,
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": digest_of("c")},
    "layers": [],
}).encode())


@pytest.mark.parametrize("platform, annotations, expected_extra", [
    pytest.param(Platform(os="linux", architecture="arm64", variant="v8"), None,
                 {"platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}, id="platform"),
    pytest.param({"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.1"}, None,
                 {"platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1"}},
                 id="platform-dict"),
    pytest.param(Platform(os="unknown", architecture="unknown"), dict(ATT_AMD64["annotations"]),
                 {"platform": {"architecture": "unknown", "os": "unknown"}, "annotations": ATT_AMD64["annotations"]},
                 id="attestation"),
    pytest.param(None, {}, {}, id="no-platform"),
])
def test_platform_descriptor(platform, annotations, expected_extra):
    descriptor = platform_descriptor(MANIFEST, platform, annotations)
    expected = {"mediaType": DOCKER_MANIFEST_V2, "digest": MANIFEST.digest, "size": len(MANIFEST.data)}
    expected.update(expected_extra)
    assert descriptor == expected


def test_platform_descriptor_then_merge_replaces_by_platform():
    arm64 = platform_descriptor(MANIFEST, Platform(os="linux", architecture="arm64"))
    assert merge_descriptors([AMD64, ARM64_V8], [arm64]) == [AMD64, arm64]
