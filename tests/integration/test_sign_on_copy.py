"""hangar_load and hangar_mirror sign what they push (sigstore_private_key): the top-level digest at
the destination and every platform copied, not attestations; reruns add nothing; check mode writes
nothing; a wrong passphrase fails before anything is pushed."""

import base64
import json

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._signing import keys
from ansible_collections.airgap.hangar.plugins.module_utils._signing.registry_signatures import VALID, verify_digest
from ansible_collections.airgap.hangar.plugins.module_utils._signing.sig_manifest import signature_tag
from tests.support import cosign_files
from tests.support.module_runner import run_module

ALL_PLATFORMS = {"arch": [], "os": []}


@pytest.fixture(scope="module")
def key_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sigkeys")
    private_pem, public_pem = keys.generate_key_pair("s3cret")
    (directory / "hangar.key").write_bytes(private_pem)
    (directory / "hangar.pub").write_bytes(public_pem)
    (directory / "passphrase").write_text("s3cret\n")
    return directory


def public_key(key_files):
    return keys.load_public_key_file(str(key_files / "hangar.pub"))


def platform_set(image):
    doc = json.loads(image.data)
    return {d["digest"] for d in doc["manifests"]
            if (d.get("annotations") or {}).get("vnd.docker.reference.type") != "attestation-manifest"}


def attestation_set(image):
    return {d["digest"] for d in json.loads(image.data)["manifests"]} - platform_set(image)


def mirror_args(registry, destination, repo, key_files, **extra):
    args = dict(images=["%s/%s:v1" % (registry.host, repo)], registry=destination.host, tls_verify=False,
                source_tls_verify=False, sigstore_private_key=str(key_files / "hangar.key"),
                sigstore_passphrase="s3cret", **ALL_PLATFORMS)
    args.update(extra)
    return args


def test_mirror_signs_index_and_platforms_not_attestations_and_rerun_is_unchanged(
        registry, registry_factory, client_for, image_factory, unique_repo, key_files):
    destination = registry_factory()
    repo = unique_repo()
    image = image_factory.oci_index(attestations=True)
    image.push(client_for(registry), repo, "v1")
    dest = client_for(destination)
    args = mirror_args(registry, destination, repo, key_files)

    checked = run_module("hangar_mirror", args, check_mode=True)
    assert checked["changed"] and not checked.get("failed"), checked
    wanted = {image.digest} | platform_set(image)
    assert {s["digest"] for s in checked["images"][0]["signatures"]} == wanted
    assert {s["status"] for s in checked["images"][0]["signatures"]} == {"signed"}
    assert dest.head_manifest(repo, "v1") is None and dest.head_manifest(repo, signature_tag(image.digest)) is None

    first = run_module("hangar_mirror", args)
    assert first["changed"] and not first.get("failed"), first
    signatures = first["images"][0]["signatures"]
    assert {s["digest"] for s in signatures} == wanted
    assert {s["identity"] for s in signatures} == {"%s/%s:v1" % (destination.host, repo)}
    assert first["stats"]["signatures_pushed"] == len(wanted)
    for digest in wanted:
        assert verify_digest(dest, repo, digest, [public_key(key_files)]).status == VALID
    for digest in attestation_set(image):
        assert dest.head_manifest(repo, signature_tag(digest)) is None

    again = run_module("hangar_mirror", args)
    assert not again["changed"], again
    assert {s["status"] for s in again["images"][0]["signatures"]} == {"unchanged"}
    assert again["stats"]["signatures_pushed"] == 0
    for digest in wanted:
        assert len(json.loads(dest.get_manifest(repo, signature_tag(digest)).data)["layers"]) == 1


def test_an_unchanged_image_without_signature_gets_signed(registry, registry_factory, client_for, image_factory,
                                                          unique_repo, key_files):
    destination = registry_factory()
    repo = unique_repo()
    image = image_factory.oci_image()
    image.push(client_for(registry), repo, "v1")
    args = mirror_args(registry, destination, repo, key_files)
    unsigned = dict(args)
    del unsigned["sigstore_private_key"]
    assert run_module("hangar_mirror", unsigned)["changed"]
    signed = run_module("hangar_mirror", args)
    assert signed["changed"] and signed["images"][0]["status"] == "unchanged", signed
    assert signed["images"][0]["signatures"] == [
        {"digest": image.digest, "identity": "%s/%s:v1" % (destination.host, repo), "status": "signed"}]


def test_platform_filtered_mirror_signs_the_new_index(registry, registry_factory, client_for, image_factory,
                                                      unique_repo, key_files):
    destination = registry_factory()
    repo = unique_repo()
    image = image_factory.oci_index(attestations=False)
    image.push(client_for(registry), repo, "v1")
    result = run_module("hangar_mirror", mirror_args(registry, destination, repo, key_files, arch=["amd64"]))
    assert not result.get("failed"), result
    dest = client_for(destination)
    top = dest.head_manifest(repo, "v1")["digest"]
    assert top != image.digest
    amd64 = [p["digest"] for p in result["images"][0]["platforms"]]
    assert [s["digest"] for s in result["images"][0]["signatures"]] == [top] + amd64
    assert verify_digest(dest, repo, top, [public_key(key_files)]).ok


@pytest.mark.parametrize("how", ["option", "file", "env"])
def test_wrong_passphrase_fails_before_anything_is_pushed(registry, registry_factory, client_for, image_factory,
                                                          unique_repo, key_files, tmp_path, monkeypatch, how):
    destination = registry_factory(count_requests=True)
    repo = unique_repo()
    image_factory.oci_image().push(client_for(registry), repo, "v1")
    args = mirror_args(registry, destination, repo, key_files)
    del args["sigstore_passphrase"]
    if how == "option":
        args["sigstore_passphrase"] = "Tr0ub4dor"
    elif how == "file":
        (tmp_path / "pw").write_text("Tr0ub4dor\n")
        args["sigstore_passphrase_file"] = str(tmp_path / "pw")
    else:
        monkeypatch.setenv("HANGAR_SIGSTORE_PASSPHRASE", "Tr0ub4dor")
    result = run_module("hangar_mirror", args)
    assert result.get("failed"), result
    assert "wrong passphrase" in result["msg"] and "hangar.key" in result["msg"], result["msg"]
    assert "Tr0ub4dor" not in json.dumps(result)
    assert destination.count_requests("PUT", r"^/v2/") == 0
    assert destination.count_requests("POST", r"^/v2/") == 0


@pytest.mark.parametrize("how", ["file", "env"])
def test_passphrase_from_file_and_environment(registry, registry_factory, client_for, image_factory, unique_repo,
                                              key_files, monkeypatch, how):
    destination = registry_factory()
    repo = unique_repo()
    image = image_factory.oci_image()
    image.push(client_for(registry), repo, "v1")
    args = mirror_args(registry, destination, repo, key_files)
    del args["sigstore_passphrase"]
    if how == "file":
        args["sigstore_passphrase_file"] = str(key_files / "passphrase")
    else:
        monkeypatch.setenv("HANGAR_SIGSTORE_PASSPHRASE", "s3cret")
    result = run_module("hangar_mirror", args)
    assert not result.get("failed"), result
    assert verify_digest(client_for(destination), repo, image.digest, [public_key(key_files)]).ok


def test_load_signs_at_the_destination_and_openssl_agrees(registry, registry_factory, client_for, image_factory,
                                                          unique_repo, key_files, tmp_path):
    destination = registry_factory()
    repo = unique_repo()
    image = image_factory.docker_manifest_list()
    image.push(client_for(registry), repo, "v1")
    archive = str(tmp_path / "images.zip")
    saved = run_module("hangar_save", dict(images=["%s/%s:v1" % (registry.host, repo)], archive=archive,
                                           tls_verify=False, **ALL_PLATFORMS))
    assert not saved.get("failed"), saved
    args = dict(archive=archive, registry=destination.host, tls_verify=False,
                sigstore_private_key=str(key_files / "hangar.key"),
                sigstore_passphrase_file=str(key_files / "passphrase"), **ALL_PLATFORMS)
    loaded = run_module("hangar_load", args)
    assert not loaded.get("failed"), loaded
    dest = client_for(destination)
    assert dest.head_manifest(repo, "v1")["digest"] == image.digest
    assert {s["digest"] for s in loaded["images"][0]["signatures"]} == {image.digest} | platform_set(image)
    sig = json.loads(dest.get_manifest(repo, signature_tag(image.digest)).data)
    layer = sig["layers"][0]
    payload = dest.get_blob(repo, layer["digest"])
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    assert cosign_files.openssl_verify(key_files / "hangar.pub", signature, payload, tmp_path)
    assert json.loads(payload)["critical"]["identity"]["docker-reference"] == "%s/%s:v1" % (destination.host, repo)
    assert not run_module("hangar_load", args)["changed"]
