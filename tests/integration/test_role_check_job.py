"""A first Check job of the role (ansible-playbook --check, nothing saved yet, not even the archive's folder):
its artifacts hold the predicted counts of the save, null for load and validate (no archive to read yet), and
nothing is written anywhere."""

from tests.support.playbook_runner import local_host, repo_path, run_playbook

PLAYBOOK = repo_path("playbooks", "offline_install.yml")
SAVE_TASK = "Save the images into the archive"


def test_a_first_check_run_publishes_the_predicted_save(registry, registry_factory, client_for, image_factory,
                                                        unique_repo, tmp_path):
    references = []
    for make in (lambda f: f.oci_index(), lambda f: f.docker_image()):
        repository = unique_repo("src")
        make(image_factory).push(client_for(registry), repository, "1.0")
        references.append("%s/%s:1.0" % (registry.host, repository))
    destination = registry_factory()
    connected, airgapped = tmp_path / "connected" / "images.zip", tmp_path / "airgap" / "images.zip"
    extra_vars = dict(
        hangar_hosts="airgap",
        offline_install_images=references,
        offline_install_archive=str(connected),
        offline_install_save_host="localhost",
        offline_install_transfer="fetch",
        offline_install_staging_dir=str(tmp_path / "staging"),
        offline_install_airgap_archive=str(airgapped),
        offline_install_registry=destination.host,
        offline_install_source_tls_verify=False,
        offline_install_registry_tls_verify=False,
    )
    inventory = {"airgap": {"hosts": {"airgap-site": local_host()}}}

    checked = run_playbook(PLAYBOOK, tmp_path, inventory, extra_vars, options=["--check"])

    assert checked.returncode == 0, checked.failures()
    saved = checked.task(SAVE_TASK)["airgap-site"]
    assert saved["changed"] is True
    assert {image["reference"]: image["status"] for image in saved["images"]} == dict.fromkeys(references, "copied")
    artifacts = checked.report["custom_stats"]["offline_install"]["airgap-site"]
    assert artifacts["saved"] == saved["stats"]
    assert (artifacts["saved"]["images"], artifacts["saved"]["copied"]) == (2, 2)
    assert artifacts["loaded"] is None and artifacts["validated"] is None
    assert artifacts["images"] == references
    assert not connected.parent.exists() and not airgapped.parent.exists() and not (tmp_path / "staging").exists()
    assert client_for(destination).catalog() == []
