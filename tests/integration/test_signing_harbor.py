"""Signing into Harbor: the signature is pushed after the image it signs (Harbor links an accessory
only to an existing subject), and a project with content_trust_cosign takes the signed images.

The emulator models projects and their metadata and proxies /v2/ to a real registry; it does not
model Harbor's accessory linking or its pull-time cosign policy (412 for unsigned images), so this
test checks the order of the pushes and the signatures as Harbor's registry serves them."""

import json

from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.airgap.hangar.plugins.module_utils._signing import keys
from ansible_collections.airgap.hangar.plugins.module_utils._signing.registry_signatures import verify_digest
from tests.support.module_runner import run_module


def test_signed_load_into_a_cosign_project_pushes_image_then_signature(harbor, registry, client_for, image_factory,
                                                                       unique_repo, tmp_path, monkeypatch):
    project = unique_repo("cosign").split("/")[-1].replace("_", "-")[:40]
    created = run_module("hangar_harbor_project", dict(harbor_url=harbor.url, username=harbor.admin[0],
                                                       password=harbor.admin[1], tls_verify=False, name=project,
                                                       content_trust_cosign=True))
    assert created["changed"] and not created.get("failed"), created
    assert harbor.state.projects[project]["metadata"]["enable_content_trust_cosign"] == "true"
    repo = "%s/app" % project
    image = image_factory.docker_manifest_list(platforms=("linux/amd64", "linux/arm64/v8"))
    image.push(client_for(registry), repo, "1.0")
    archive = str(tmp_path / "a.zip")
    assert not run_module("hangar_save", dict(images=["%s/%s:1.0" % (registry.host, repo)], archive=archive,
                                              tls_verify=False, arch=[], os=[])).get("failed")
    private_pem, public_pem = keys.generate_key_pair("pw")
    (tmp_path / "k.key").write_bytes(private_pem)

    pushes = []
    real_put = RegistryClient.put_manifest

    def recording_put(self, repository, ref, data, media_type):
        pushes.append((repository, ref))
        return real_put(self, repository, ref, data, media_type)

    monkeypatch.setattr(RegistryClient, "put_manifest", recording_put)
    loaded = run_module("hangar_load", dict(archive=archive, registry=harbor.host, username=harbor.admin[0],
                                            password=harbor.admin[1], tls_verify=False, arch=[],
                                            os=[], sigstore_private_key=str(tmp_path / "k.key"),
                                            sigstore_passphrase="pw"))
    assert loaded["changed"] and not loaded.get("failed"), loaded
    refs = [ref for repository, ref in pushes if repository == repo]
    signature_positions = [i for i, ref in enumerate(refs) if ref.endswith(".sig")]
    assert len(signature_positions) == 3  # the list and its two platforms
    assert min(signature_positions) > refs.index("1.0")  # every signature after the image's tag
    with RegistryClient(harbor.host, username=harbor.admin[0], password=harbor.admin[1], tls_verify=False) as client:
        public = keys.load_public_key(public_pem)
        assert verify_digest(client, repo, image.digest, [public]).ok
        for child in json.loads(image.data)["manifests"]:
            assert verify_digest(client, repo, child["digest"], [public]).ok
