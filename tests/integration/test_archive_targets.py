"""The integration targets hangar_archive and hangar_archive_info, run with ansible-playbook after hangar_save:
check mode -> real -> check mode again -> real again, asserting `changed` at every step."""

from tests.support.playbook_runner import local_host, repo_path, run_playbook

TARGETS = ("hangar_save", "hangar_archive", "hangar_archive_info")


def test_archive_targets_check_real_check_real(registry, client_for, image_factory, unique_repo, tmp_path):
    source = client_for(registry)
    images = []
    for image in (image_factory.oci_index(), image_factory.docker_image()):
        repository = unique_repo("archive-targets")
        image.push(source, repository, "1.0")
        images.append("%s/%s:1.0" % (registry.host, repository))
    playbook = tmp_path / "targets.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles: [%s]\n" % ", ".join(TARGETS))

    result = run_playbook(playbook, tmp_path, inventory={"all": {"hosts": {"localhost": local_host()}}},
                          extra_vars=dict(hangar_images=images, hangar_archive=str(tmp_path / "targets.zip"),
                                          hangar_access_logs=[registry.access_log_path]),
                          env={"ANSIBLE_ROLES_PATH": str(repo_path("tests", "integration", "targets"))})

    assert result.returncode == 0, result.failures()
    ran = {task["task"]["name"].split(" : ")[0] for task in result.tasks()}
    assert set(TARGETS) <= ran
    assert (tmp_path / "exported.zip.sha256").read_text().endswith("  exported.zip\n")
