"""The integration targets of the signing modules (hangar_sigstore_key, then hangar_sign), with
ansible-playbook against a real registry: check mode -> real -> check mode again -> real again."""

from tests.support.playbook_runner import local_host, repo_path, run_playbook

TARGETS = ("hangar_sigstore_key", "hangar_sign")


def test_signing_targets_check_real_check_real(registry, client_for, image_factory, unique_repo, tmp_path):
    source = client_for(registry)
    images = []
    for image in (image_factory.oci_index(), image_factory.docker_image()):
        repository = unique_repo("sign-targets")
        image.push(source, repository, "1.0")
        images.append("%s/%s:1.0" % (registry.host, repository))
    playbook = tmp_path / "targets.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles: [%s]\n" % ", ".join(TARGETS))

    result = run_playbook(playbook, tmp_path, inventory={"all": {"hosts": {"localhost": local_host()}}},
                          extra_vars=dict(hangar_images=images, hangar_key_prefix=str(tmp_path / "sigstore"),
                                          hangar_key_passphrase="target passphrase"),
                          env={"ANSIBLE_ROLES_PATH": str(repo_path("tests", "integration", "targets"))})

    assert result.returncode == 0, result.failures()
    ran = {task["task"]["name"].split(" : ")[0] for task in result.tasks()}
    assert set(TARGETS) <= ran
    assert "target passphrase" not in repr(result.report) + result.stderr
