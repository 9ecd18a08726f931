"""Signing and verifying in a real registry with cosign `.sig` tags: our signer's layout read back
by skopeo (use-sigstore-attachments), our signatures checked by the OpenSSL CLI, cosign-style
fixtures written by hand verified, and their negative variants rejected with the right reason."""

import base64
import json

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._signing import keys
from ansible_collections.airgap.hangar.plugins.module_utils._signing.registry_signatures import (
    ALREADY_SIGNED,
    INVALID,
    MISSING,
    OTHER_DIGEST,
    SIGNED,
    VALID,
    sign_digest,
    verify_digest,
)
from ansible_collections.airgap.hangar.plugins.module_utils._signing.sig_manifest import SIMPLESIGNING, signature_tag
from tests.support import cosign_files, skopeo


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory):
    directory = tmp_path_factory.mktemp("keys")
    private_pem, public_pem = keys.generate_key_pair("pw")
    (directory / "k.pub").write_bytes(public_pem)
    return keys.load_private_key(private_pem, "pw"), directory / "k.pub"


def test_sign_verify_rerun_and_skopeo_copies_our_signature(registry, client_for, image_factory, unique_repo,
                                                           key_pair, tmp_path):
    key, public_path = key_pair
    client = client_for(registry)
    repo = unique_repo()
    image = image_factory.oci_index(attestations=True)
    image.push(client, repo, "v1")
    identity = "%s/%s:v1" % (registry.host, repo)

    assert verify_digest(client, repo, image.digest, [key.public_key]).status == MISSING
    assert sign_digest(client, repo, image.digest, identity, key, check_mode=True) == SIGNED
    assert client.head_manifest(repo, signature_tag(image.digest)) is None  # check mode wrote nothing
    assert sign_digest(client, repo, image.digest, identity, key) == SIGNED
    assert sign_digest(client, repo, image.digest, identity, key) == ALREADY_SIGNED
    verification = verify_digest(client, repo, image.digest, [key.public_key])
    assert (verification.status, verification.identity) == (VALID, identity)
    sig = json.loads(client.get_manifest(repo, signature_tag(image.digest)).data)
    assert len(sig["layers"]) == 1  # the rerun appended nothing

    registries_d = cosign_files.sigstore_registries_d(tmp_path / "registries.d", registry)
    out = tmp_path / "out"
    skopeo.run_skopeo(["--registries.d", str(registries_d), "--insecure-policy", "copy", "--quiet", "--all",
                       "--src-tls-verify=false", "--src-no-creds", "docker://%s/%s:v1" % (registry.host, repo),
                       "dir:%s" % out])
    signatures = cosign_files.skopeo_signatures(out)
    assert len(signatures) == 1
    payload, annotations = signatures[0]
    claims = json.loads(payload)["critical"]
    assert claims["image"]["docker-manifest-digest"] == image.digest
    assert claims["identity"]["docker-reference"] == identity
    signature = base64.b64decode(annotations["dev.cosignproject.cosign/signature"])
    assert cosign_files.openssl_verify(public_path, signature, payload, tmp_path)
    assert not cosign_files.openssl_verify(public_path, signature, payload.replace(b"v1", b"v2"), tmp_path)

    # skopeo copies the .sig tag along registry to registry.
    other = unique_repo()
    skopeo.run_skopeo(["--registries.d", str(registries_d), "--insecure-policy", "copy", "--quiet", "--all",
                       "--preserve-digests", "--src-tls-verify=false", "--src-no-creds", "--dest-tls-verify=false",
                       "--dest-no-creds", "docker://%s/%s:v1" % (registry.host, repo),
                       "docker://%s/%s:v1" % (registry.host, other)])
    assert verify_digest(client, other, image.digest, [key.public_key]).status == VALID


def test_second_key_appends_a_layer_and_either_key_verifies(registry, client_for, image_factory, unique_repo,
                                                            key_pair):
    key, _public = key_pair
    second = keys.load_private_key(keys.generate_key_pair("")[0], "")
    client = client_for(registry)
    repo = unique_repo()
    image = image_factory.oci_image()
    image.push(client, repo, "v1")
    assert sign_digest(client, repo, image.digest, "x/y:v1", key) == SIGNED
    assert verify_digest(client, repo, image.digest, [second.public_key]).status == INVALID
    assert sign_digest(client, repo, image.digest, "x/y:v1", second) == SIGNED
    assert len(json.loads(client.get_manifest(repo, signature_tag(image.digest)).data)["layers"]) == 2
    for one in (key, second):
        assert verify_digest(client, repo, image.digest, [one.public_key]).ok


@pytest.fixture(scope="module")
def openssl_key(tmp_path_factory):
    """A key made by the OpenSSL CLI: fixtures below are signed by OpenSSL, as cosign would sign them."""
    import subprocess

    directory = tmp_path_factory.mktemp("openssl-key")
    private = directory / "cosign.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                    str(private)], check=True, capture_output=True)
    public = directory / "cosign.pub"
    subprocess.run(["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)], check=True,
                   capture_output=True)
    return private, keys.load_public_key_file(str(public)), directory


def cosign_layer(openssl_key, payload, tmp_path):
    private, _public, _directory = openssl_key
    signature = cosign_files.openssl_sign(private, payload, tmp_path)
    return (SIMPLESIGNING, payload, {"dev.cosignproject.cosign/signature": base64.b64encode(signature).decode()})


def test_cosign_style_fixtures_and_their_negative_variants(registry, client_for, image_factory, unique_repo,
                                                           openssl_key, tmp_path, key_pair):
    _private, public, _directory = openssl_key
    client = client_for(registry)
    repo = unique_repo()
    image = image_factory.oci_image()
    image.push(client, repo, "valid")
    identity = "%s/%s" % (registry.host, repo)  # cosign writes the repository without tag
    cosign_files.push_cosign_signature(
        client, repo, image.digest, [cosign_layer(openssl_key, cosign_files.cosign_payload(image.digest, identity),
                                                  tmp_path)])
    assert verify_digest(client, repo, image.digest, [public]).status == VALID

    # unknown key: the same signature checked with another key
    assert verify_digest(client, repo, image.digest, [key_pair[0].public_key]).status == INVALID

    # manifest digest error: a valid signature whose payload names another digest
    other = image_factory.oci_image()
    other.push(client, repo, "digest-error")
    cosign_files.push_cosign_signature(
        client, repo, other.digest, [cosign_layer(openssl_key, cosign_files.cosign_payload(image.digest, identity),
                                                  tmp_path)])
    assert verify_digest(client, repo, other.digest, [public]).status == OTHER_DIGEST

    # modified manifest: the image changed after signing, its new digest has no signature
    modified = image_factory.oci_image()
    modified.push(client, repo, "valid")
    assert verify_digest(client, repo, modified.digest, [public]).status == MISSING

    # other attachment: a .sig manifest with no simple-signing layer
    attached = image_factory.oci_image()
    attached.push(client, repo, "attachment")
    cosign_files.push_cosign_signature(client, repo, attached.digest,
                                       [("application/vnd.example.other+json", b"{}", None)])
    assert verify_digest(client, repo, attached.digest, [public]).status == MISSING

    # tampered payload: signature over other bytes than those stored
    tampered = image_factory.oci_image()
    tampered.push(client, repo, "tampered")
    media_type, payload, annotations = cosign_layer(
        openssl_key, cosign_files.cosign_payload(tampered.digest, identity), tmp_path)
    cosign_files.push_cosign_signature(client, repo, tampered.digest,
                                       [(media_type, payload.replace(b"null", b"{}"), annotations)])
    assert verify_digest(client, repo, tampered.digest, [public]).status == INVALID

    # a signed payload that breaks the strict rules (extra key in critical)
    strict = image_factory.oci_image()
    strict.push(client, repo, "strict")
    bad = json.dumps({"critical": {"identity": {"docker-reference": identity},
                                   "image": {"docker-manifest-digest": strict.digest},
                                   "type": "cosign container image signature", "extra": 1},
                      "optional": None}).encode()
    cosign_files.push_cosign_signature(client, repo, strict.digest, [cosign_layer(openssl_key, bad, tmp_path)])
    verification = verify_digest(client, repo, strict.digest, [public])
    assert verification.status == INVALID and "unknown keys ['extra']" in verification.detail


def test_an_oversized_payload_is_not_fetched(registry, client_for, image_factory, unique_repo, openssl_key, tmp_path):
    _private, public, _directory = openssl_key
    client = client_for(registry)
    repo = unique_repo()
    image = image_factory.oci_image()
    image.push(client, repo, "v1")
    big = cosign_files.cosign_payload(image.digest, "r", {"padding": "x" * 70000})
    cosign_files.push_cosign_signature(client, repo, image.digest, [cosign_layer(openssl_key, big, tmp_path)])
    verification = verify_digest(client, repo, image.digest, [public])
    assert verification.status == INVALID and "is not fetched" in verification.detail
