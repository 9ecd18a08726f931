"""hangar_validate with sigstore_public_key: signed images pass, and each way of not being signed
fails with its reason (signature missing, signature invalid, signature for another digest)."""

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._signing import keys
from ansible_collections.airgap.hangar.plugins.module_utils._signing.registry_signatures import sign_digest
from ansible_collections.airgap.hangar.plugins.module_utils._signing.sig_manifest import signature_tag
from tests.support.module_runner import run_module

ALL_PLATFORMS = {"arch": [], "os": []}


@pytest.fixture(scope="module")
def keyring(tmp_path_factory):
    directory = tmp_path_factory.mktemp("validate-keys")
    found = {}
    for name in ("good", "other"):
        private_pem, public_pem = keys.generate_key_pair("")
        (directory / (name + ".pub")).write_bytes(public_pem)
        found[name] = (keys.load_private_key(private_pem, ""), str(directory / (name + ".pub")))
    return found


def validate(registry, repo, public_keys, **extra):
    args = dict(images=["%s/%s:v1" % (registry.host, repo)], registry=registry.host, tls_verify=False,
                source_tls_verify=False, sigstore_public_key=public_keys, fail_on_mismatch=False,
                **ALL_PLATFORMS)
    # a mirror onto itself: the source and the target are the same image, only signatures differ
    args["images"] = ["%s/%s %s/%s v1" % (registry.host, repo, registry.host, repo)]
    del args["registry"]
    args.update(extra)
    result = run_module("hangar_validate", args)
    assert not result.get("changed"), result
    assert result["images"], result
    return result["images"][0]


def test_signed_passes_and_every_defect_has_its_reason(registry, client_for, image_factory, unique_repo, keyring):
    good, good_pub = keyring["good"]
    _other, other_pub = keyring["other"]
    client = client_for(registry)
    repo = unique_repo()
    image = image_factory.oci_index(attestations=True)
    image.push(client, repo, "v1")

    missing = validate(registry, repo, [good_pub])
    assert missing["status"] == "failed" and missing["reason"].startswith("signature missing"), missing
    assert missing["signatures"] == [{"digest": image.digest, "status": "signature missing"}]

    sign_digest(client, repo, image.digest, "%s/%s:v1" % (registry.host, repo), good)
    passed = validate(registry, repo, [good_pub])
    assert passed["status"] == "passed", passed
    assert passed["signatures"] == [{"digest": image.digest, "status": "valid"}]
    assert validate(registry, repo, [other_pub, good_pub])["status"] == "passed"  # any one key

    invalid = validate(registry, repo, [other_pub])
    assert invalid["status"] == "failed" and invalid["reason"].startswith("signature invalid"), invalid

    platforms = validate(registry, repo, [good_pub], verify_platform_signatures=True)
    assert platforms["status"] == "failed" and "signature missing" in platforms["reason"], platforms
    assert len(platforms["signatures"]) == 3  # the index and two platforms, not the attestations

    for child in image.children:
        sign_digest(client, repo, child.digest, "x", good)
    assert validate(registry, repo, [good_pub], verify_platform_signatures=True)["status"] == "passed"


def test_a_signature_moved_to_another_image_is_for_another_digest(registry, client_for, image_factory, unique_repo,
                                                                  keyring):
    good, good_pub = keyring["good"]
    client = client_for(registry)
    repo = unique_repo()
    signed = image_factory.oci_image()
    signed.push(client, repo, "signed")
    sign_digest(client, repo, signed.digest, "x", good)
    image = image_factory.oci_image()
    image.push(client, repo, "v1")
    moved = client.get_manifest(repo, signature_tag(signed.digest))
    client.put_manifest(repo, signature_tag(image.digest), moved.data, moved.media_type)
    result = validate(registry, repo, [good_pub])
    assert result["status"] == "failed" and result["reason"].startswith("signature for another digest"), result


def test_load_validation_verifies_and_a_bad_key_file_is_a_clear_error(registry, registry_factory, client_for,
                                                                      image_factory, unique_repo, keyring, tmp_path):
    _good, good_pub = keyring["good"]
    repo = unique_repo()
    image_factory.docker_image().push(client_for(registry), repo, "v1")
    archive = str(tmp_path / "a.zip")
    assert not run_module("hangar_save", dict(images=["%s/%s:v1" % (registry.host, repo)], archive=archive,
                                              tls_verify=False)).get("failed")
    destination = registry_factory()
    assert not run_module("hangar_load", dict(archive=archive, registry=destination.host,
                                              tls_verify=False)).get("failed")
    result = run_module("hangar_validate", dict(archive=archive, registry=destination.host, tls_verify=False,
                                                sigstore_public_key=good_pub))
    assert result.get("failed") and "signature missing" in result["msg"], result
    (tmp_path / "bad.pub").write_text("nonsense")
    bad = run_module("hangar_validate", dict(archive=archive, registry=destination.host, tls_verify=False,
                                             sigstore_public_key=str(tmp_path / "bad.pub")))
    assert bad.get("failed") and "bad.pub: found no PEM block: expected a PEM block 'PUBLIC KEY'" in bad["msg"], bad
