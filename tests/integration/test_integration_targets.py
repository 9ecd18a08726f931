"""The integration targets under tests/integration/targets, run with ansible-playbook against real registries:
each goes check mode -> real -> check mode again -> real again and asserts `changed` at every step."""

from tests.support.playbook_runner import local_host, repo_path, run_playbook

# hangar_evidence is a helper role of the targets, not a target
TARGETS = ("hangar_save", "hangar_load", "hangar_validate", "hangar_mirror", "hangar_image_list")


def test_targets_check_real_check_real(registry, registry_factory, client_for, image_factory, unique_repo, tmp_path):
    source = client_for(registry)
    images = []
    for image in (image_factory.oci_index(), image_factory.docker_image()):
        repository = unique_repo("targets")
        image.push(source, repository, "1.0")
        images.append("%s/%s:1.0" % (registry.host, repository))
    destination = registry_factory(count_requests=True)
    playbook = tmp_path / "targets.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles: [%s]\n" % ", ".join(TARGETS))

    result = run_playbook(playbook, tmp_path, inventory={"all": {"hosts": {"localhost": local_host()}}},
                          extra_vars=dict(hangar_images=images, hangar_archive=str(tmp_path / "targets.zip"),
                                          hangar_destination=destination.host,
                                          hangar_access_logs=[registry.access_log_path, destination.access_log_path]),
                          env={"ANSIBLE_ROLES_PATH": str(repo_path("tests", "integration", "targets"))})

    assert result.returncode == 0, result.failures()
    ran = {task["task"]["name"].split(" : ")[0] for task in result.tasks()}
    assert set(TARGETS) <= ran
    evidence = [task for task in result.tasks() if task["task"]["name"].split(" : ")[-1].startswith("Check that \"")]
    assert len(evidence) == 7, [task["task"]["name"] for task in evidence]  # every check-mode task was witnessed
