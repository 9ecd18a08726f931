"""Signatures, attestations, SBOMs and referrers travel with the images: mirror, save and load copy
them byte for byte after the image, reruns are unchanged, remove_signatures drops them, a
platform-filtered copy carries only the artifacts of what it copied. The referrers tag schema is
tested on docker-registry (it has no referrers API), the referrers API on a scripted registry."""

import json
import zipfile

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._signing import keys
from ansible_collections.airgap.hangar.plugins.module_utils._signing.registry_signatures import (
    sign_digest,
    verify_digest,
)
from ansible_collections.airgap.hangar.plugins.module_utils._signing.sig_manifest import signature_tag
from tests.support import cosign_files, skopeo, supply_chain
from tests.support.archive_checks import check_archive_layout
from tests.support.module_runner import run_module
from tests.support.scripted_server import ScriptedServer

ALL_PLATFORMS = {"arch": [], "os": []}


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    private_pem, public_pem = keys.generate_key_pair("")
    path = tmp_path_factory.mktemp("artifact-keys") / "k.pub"
    path.write_bytes(public_pem)
    return keys.load_private_key(private_pem, ""), path


def supplied_image(client, image_factory, repo, signer):
    """An index with attestations, pushed as <repo>:v1, with: .sig on the index and on amd64,
    .att and .sbom on the index, a referrer of arm64 in the tag schema. Returns (image, tags, amd64, arm64)."""
    image = image_factory.oci_index(attestations=True)
    image.push(client, repo, "v1")
    doc = json.loads(image.data)
    by_arch = {d["platform"]["architecture"]: d for d in doc["manifests"]
               if (d.get("annotations") or {}).get("vnd.docker.reference.type") != "attestation-manifest"}
    amd64, arm64 = by_arch["amd64"], by_arch["arm64"]
    key, _public = signer
    sign_digest(client, repo, image.digest, "src/%s:v1" % repo, key)
    sign_digest(client, repo, amd64["digest"], "src/%s:v1" % repo, key)
    supply_chain.attachment(client, repo, image.digest, ".att", "application/vnd.dsse.envelope.v1+json",
                            b'{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}')
    supply_chain.attachment(client, repo, image.digest, ".sbom", "text/spdx+json", b'{"spdxVersion":"SPDX-2.3"}')
    referrer, index = supply_chain.push_referrer_with_tag_schema(
        client, repo, {"mediaType": arm64["mediaType"], "digest": arm64["digest"], "size": arm64["size"]},
        "application/spdx+json", b'{"spdxVersion":"SPDX-2.3","name":"arm64"}', {"org.example": "sbom"})
    hexes = {d: d.split(":")[1] for d in (image.digest, amd64["digest"], arm64["digest"])}
    tags = {"sha256-%s.sig" % hexes[image.digest], "sha256-%s.att" % hexes[image.digest],
            "sha256-%s.sbom" % hexes[image.digest], "sha256-%s.sig" % hexes[amd64["digest"]],
            "sha256-%s" % hexes[arm64["digest"]]}
    return image, tags, amd64, arm64, supply_chain.digest_of(referrer), index


def tag_digests(client, repo, tags):
    return {tag: (client.head_manifest(repo, tag) or {}).get("digest") for tag in tags}


def test_mirror_carries_everything_byte_for_byte_and_reruns_unchanged(registry, registry_factory, client_for,
                                                                      image_factory, unique_repo, signer, tmp_path):
    source = client_for(registry)
    repo = unique_repo()
    image, tags, _amd64, _arm64, referrer, index = supplied_image(source, image_factory, repo, signer)
    destination = registry_factory()
    dest = client_for(destination)
    args = dict(images=["%s/%s:v1" % (registry.host, repo)], registry=destination.host, tls_verify=False,
                source_tls_verify=False, **ALL_PLATFORMS)

    checked = run_module("hangar_mirror", args, check_mode=True)
    assert checked["changed"] and len([a for a in checked["images"][0]["artifacts"] if a["status"] == "copied"]) >= 5
    assert dest.head_manifest(repo, "v1") is None and dest.head_manifest(repo, signature_tag(image.digest)) is None

    first = run_module("hangar_mirror", args)
    assert first["changed"] and not first.get("failed"), first
    assert tag_digests(dest, repo, tags) == tag_digests(source, repo, tags)
    assert None not in tag_digests(dest, repo, tags).values()
    assert dest.get_manifest(repo, referrer).data == source.get_manifest(repo, referrer).data
    assert dest.get_manifest(repo, "sha256-" + _arm64["digest"].split(":")[1]).data == index
    assert verify_digest(dest, repo, image.digest, [signer[0].public_key]).ok
    assert first["stats"]["artifacts_copied"] >= 6

    again = run_module("hangar_mirror", args)
    assert not again["changed"], again
    assert {a["status"] for a in again["images"][0]["artifacts"]} == {"unchanged"}

    # skopeo, an independent reader, sees the carried signature at the destination
    registries_d = cosign_files.sigstore_registries_d(tmp_path / "registries.d", destination)
    skopeo.run_skopeo(["--registries.d", str(registries_d), "--insecure-policy", "copy", "--quiet", "--all",
                       "--src-tls-verify=false", "--src-no-creds", "docker://%s/%s:v1" % (destination.host, repo),
                       "dir:%s" % (tmp_path / "out")])
    payload, _annotations = cosign_files.skopeo_signatures(tmp_path / "out")[0]
    assert json.loads(payload)["critical"]["image"]["docker-manifest-digest"] == image.digest


def test_remove_signatures_and_platform_filter(registry, registry_factory, client_for, image_factory, unique_repo,
                                               signer):
    source = client_for(registry)
    repo = unique_repo()
    image, tags, amd64, _arm64, _referrer, _index = supplied_image(source, image_factory, repo, signer)
    args = dict(images=["%s/%s:v1" % (registry.host, repo)], tls_verify=False, source_tls_verify=False)

    bare = registry_factory()
    removed = run_module("hangar_mirror", dict(args, registry=bare.host, remove_signatures=True, **ALL_PLATFORMS))
    assert not removed.get("failed") and "artifacts" not in removed["images"][0], removed
    assert set(tag_digests(client_for(bare), repo, tags).values()) == {None}
    assert client_for(bare).list_tags(repo) == ["v1"]

    filtered = registry_factory()
    result = run_module("hangar_mirror", dict(args, registry=filtered.host, arch=["amd64"]))
    assert not result.get("failed"), result
    dest = client_for(filtered)
    assert sorted(dest.list_tags(repo)) == sorted(["v1", signature_tag(amd64["digest"])])
    assert dest.head_manifest(repo, signature_tag(image.digest)) is None  # the new index has no signature


def test_save_then_load_restores_artifacts_and_the_archive_stays_hangar_loadable(
        registry, registry_factory, client_for, image_factory, unique_repo, signer, tmp_path):
    source = client_for(registry)
    repo = unique_repo()
    image, tags, _amd64, arm64, referrer, index = supplied_image(source, image_factory, repo, signer)
    archive = str(tmp_path / "images.zip")
    save_args = dict(images=["%s/%s:v1" % (registry.host, repo)], archive=archive, tls_verify=False, **ALL_PLATFORMS)
    saved = run_module("hangar_save", save_args)
    assert saved["changed"] and not saved.get("failed"), saved
    doc = check_archive_layout(archive)
    artifacts = doc["list"][0]["artifacts"]
    assert {a.get("tag") for a in artifacts if a.get("tag")} == {t for t in tags if "." in t}
    referrers = [a for a in artifacts if not a.get("tag")]
    assert [(a["digest"], a["subject"], a["artifactType"]) for a in referrers] == [
        (referrer, arm64["digest"], "application/spdx+json")]
    with zipfile.ZipFile(archive) as zipped:
        folders = {n.split("/")[0] for n in zipped.namelist() if n.endswith("/oci-layout")}
    assert folders == {d["digest"].split(":")[1] for d in doc["list"][0]["images"]}  # artifacts get no folder
    with open(archive, "rb") as stream:
        before = stream.read()
    assert not run_module("hangar_save", save_args)["changed"]
    with open(archive, "rb") as stream:
        assert stream.read() == before

    destination = registry_factory()
    dest = client_for(destination)
    load_args = dict(archive=archive, registry=destination.host, tls_verify=False, **ALL_PLATFORMS)
    loaded = run_module("hangar_load", load_args)
    assert loaded["changed"] and not loaded.get("failed"), loaded
    sig_tags = {t for t in tags if "." in t}
    assert tag_digests(dest, repo, sig_tags) == tag_digests(source, repo, sig_tags)
    assert dest.get_manifest(repo, referrer).data == source.get_manifest(repo, referrer).data
    schema_index = dest.get_manifest(repo, "sha256-" + arm64["digest"].split(":")[1])
    assert [d["digest"] for d in schema_index.children] == [referrer]
    assert schema_index.children[0]["annotations"] == {"org.example": "sbom"}
    assert verify_digest(dest, repo, image.digest, [signer[0].public_key]).ok
    assert not run_module("hangar_load", load_args)["changed"]


def test_signing_on_load_appends_to_a_carried_signature_and_reruns_unchanged(
        registry, registry_factory, client_for, image_factory, unique_repo, signer, tmp_path):
    source = client_for(registry)
    repo = unique_repo()
    image = image_factory.oci_image()
    image.push(source, repo, "v1")
    sign_digest(source, repo, image.digest, "src", signer[0])
    private_pem, public_pem = keys.generate_key_pair("pw")
    (tmp_path / "site.key").write_bytes(private_pem)
    destination = registry_factory()
    args = dict(images=["%s/%s:v1" % (registry.host, repo)], registry=destination.host, tls_verify=False,
                source_tls_verify=False, sigstore_private_key=str(tmp_path / "site.key"), sigstore_passphrase="pw")
    assert run_module("hangar_mirror", args)["changed"]
    dest = client_for(destination)
    site = keys.load_public_key(public_pem)
    assert verify_digest(dest, repo, image.digest, [signer[0].public_key]).ok  # carried from the source
    assert verify_digest(dest, repo, image.digest, [site]).ok  # added at the destination
    layers = json.loads(dest.get_manifest(repo, signature_tag(image.digest)).data)["layers"]
    assert len(layers) == 2
    again = run_module("hangar_mirror", args)
    assert not again["changed"], again
    assert len(json.loads(dest.get_manifest(repo, signature_tag(image.digest)).data)["layers"]) == 2


class ReferrersRegistry:
    """A read-only registry with the referrers API, scripted: one image and one referrer of it."""

    def __init__(self, image, repo, referrer, blobs):
        self.repo = repo
        self.manifests = {m.digest: m for m in image.manifests}
        self.tags = {"v1": image.top}
        self.referrer = referrer
        self.blobs = dict(image.blobs, **blobs)
        self.subject = image.digest

    def answer(self, request):
        path = request.path.split("?")[0]
        prefix = "/v2/%s/" % self.repo
        if path == "/v2/":
            return 200, {"Content-Type": "application/json"}, b"{}"
        if path == prefix + "tags/list":
            return 200, {"Content-Type": "application/json"}, json.dumps(
                {"name": self.repo, "tags": ["v1"]}).encode()
        if path == prefix + "referrers/" + self.subject:
            descriptor = {"mediaType": supply_chain.OCI_MANIFEST, "digest": supply_chain.digest_of(self.referrer),
                          "size": len(self.referrer), "artifactType": "application/spdx+json"}
            body = json.dumps({"schemaVersion": 2, "mediaType": supply_chain.OCI_INDEX, "manifests": [descriptor]})
            return 200, {"Content-Type": supply_chain.OCI_INDEX}, body.encode()
        if path.startswith(prefix + "referrers/"):
            body = json.dumps({"schemaVersion": 2, "mediaType": supply_chain.OCI_INDEX, "manifests": []})
            return 200, {"Content-Type": supply_chain.OCI_INDEX}, body.encode()
        if path.startswith(prefix + "manifests/"):
            ref = path[len(prefix + "manifests/"):]
            if ref == supply_chain.digest_of(self.referrer):
                data, media_type = self.referrer, supply_chain.OCI_MANIFEST
            else:
                manifest = self.tags.get(ref) or self.manifests.get(ref)
                if manifest is None:
                    return 404, {"Content-Type": "application/json"}, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'
                data, media_type = manifest.data, manifest.media_type
            return 200, {"Content-Type": media_type, "Docker-Content-Digest": supply_chain.digest_of(data)}, data
        if path.startswith(prefix + "blobs/"):
            data = self.blobs.get(path[len(prefix + "blobs/"):])
            if data is None:
                return 404, {"Content-Type": "application/json"}, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}'
            return 200, {"Content-Type": "application/octet-stream"}, data
        return 404, {}, b""


def test_referrers_api_source_to_a_registry_without_it(registry_factory, client_for, image_factory):
    image = image_factory.oci_image()
    repo = "team/app"
    referrer, blobs = supply_chain.referrer_manifest(
        {"mediaType": image.media_type, "digest": image.digest, "size": len(image.data)},
        "application/spdx+json", b'{"spdxVersion":"SPDX-2.3"}')
    scripted = ReferrersRegistry(image, repo, referrer, blobs)
    destination = registry_factory()
    with ScriptedServer(scripted.answer) as server:
        args = dict(images=["%s/%s:v1" % (server.host, repo)], registry=destination.host, tls_verify=False,
                    source_tls_verify=False, **ALL_PLATFORMS)
        result = run_module("hangar_mirror", args)
        assert not result.get("failed"), result
        assert any(r.path == "/v2/%s/referrers/%s" % (repo, image.digest) for r in server.requests)
        dest = client_for(destination)
        assert dest.get_manifest(repo, supply_chain.digest_of(referrer)).data == referrer
        index = dest.get_manifest(repo, "sha256-" + image.digest.split(":")[1])
        assert [(d["digest"], d.get("artifactType")) for d in index.children] == [
            (supply_chain.digest_of(referrer), "application/spdx+json")]
        assert not run_module("hangar_mirror", args)["changed"]


def test_a_source_signature_is_appended_to_the_destination_signature_tag(
        registry, registry_factory, client_for, image_factory, unique_repo, signer):
    source = client_for(registry)
    repo = unique_repo()
    image = image_factory.oci_image()
    image.push(source, repo, "v1")
    destination = registry_factory()
    dest = client_for(destination)
    args = dict(images=["%s/%s:v1" % (registry.host, repo)], registry=destination.host, tls_verify=False,
                source_tls_verify=False)
    assert run_module("hangar_mirror", args)["changed"]
    site = keys.load_private_key(keys.generate_key_pair("")[0], "")
    sign_digest(dest, repo, image.digest, "site", site)  # the destination signs on its own
    sign_digest(source, repo, image.digest, "src", signer[0])  # later, the source gets signed too
    merged = run_module("hangar_mirror", args)
    assert merged["changed"], merged
    for key in (site, signer[0]):
        assert verify_digest(dest, repo, image.digest, [key.public_key]).ok
    assert len(json.loads(dest.get_manifest(repo, signature_tag(image.digest)).data)["layers"]) == 2
    assert not run_module("hangar_mirror", args)["changed"]
