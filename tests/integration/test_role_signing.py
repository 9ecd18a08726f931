"""The role offline_install with a sigstore key: load signs, validate verifies (with the .pub beside the
key), a rerun changes nothing, and a removed signature fails validation with its reason."""

from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.airgap.hangar.plugins.module_utils._signing import keys
from ansible_collections.airgap.hangar.plugins.module_utils._signing.sig_manifest import signature_tag
from tests.support.playbook_runner import local_host, repo_path, run_playbook

PLAYBOOK = repo_path("playbooks", "offline_install.yml")
LOAD_TASK = "Load the archive into the destination registry"
VALIDATE_TASK = "Validate the destination registry against the archive"


def test_role_signs_on_load_and_verifies_in_validate(registry, registry_factory, client_for, image_factory,
                                                     unique_repo, tmp_path):
    destination = registry_factory()
    repository = unique_repo("src")
    image = image_factory.docker_manifest_list(platforms=("linux/amd64", "linux/arm64/v8"))
    image.push(client_for(registry), repository, "1.0")
    private_pem, public_pem = keys.generate_key_pair("role passphrase")
    (tmp_path / "site.key").write_bytes(private_pem)
    (tmp_path / "site.pub").write_bytes(public_pem)
    archive = tmp_path / "images.zip"
    extra_vars = dict(
        hangar_hosts="airgap", offline_install_images=["%s/%s:1.0" % (registry.host, repository)],
        offline_install_archive=str(archive), offline_install_registry=destination.host,
        offline_install_source_tls_verify=False, offline_install_registry_tls_verify=False,
        offline_install_sigstore_private_key=str(tmp_path / "site.key"),
    )
    inventory = {"airgap": {"hosts": {"airgap-site": local_host()}}}
    env = {"HANGAR_SIGSTORE_PASSPHRASE": "role passphrase"}

    real = run_playbook(PLAYBOOK, tmp_path, inventory, extra_vars, env=env)
    assert real.returncode == 0, real.failures()
    loaded = real.task(LOAD_TASK)["airgap-site"]["images"][0]
    assert {s["status"] for s in loaded["signatures"]} == {"signed"} and len(loaded["signatures"]) == 3
    validated = real.task(VALIDATE_TASK)["airgap-site"]["images"][0]
    assert validated["status"] == "passed" and validated["signatures"] == [
        {"digest": image.digest, "status": "valid"}], validated
    assert "role passphrase" not in repr(real.report) + real.stderr

    again = run_playbook(PLAYBOOK, tmp_path, inventory, extra_vars, env=env)
    assert again.returncode == 0 and again.changed == {"airgap-site": 0}, again.changed_tasks()

    with RegistryClient(destination.host, tls_verify=False) as client:
        client.delete_manifest(repository, client.head_manifest(repository, signature_tag(image.digest))["digest"])
    lost = run_playbook(PLAYBOOK, tmp_path, inventory, extra_vars, env=env, options=["--tags", "validate"])
    assert lost.returncode != 0
    assert lost.task(VALIDATE_TASK)["airgap-site"]["images"][0]["reason"].startswith("signature missing")
