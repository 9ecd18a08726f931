"""The hangar_image_info and hangar_image integration targets through ansible-playbook, with the
registry options set once for the action group (module_defaults), as a play would."""

from tests.support.playbook_runner import local_host, repo_path, run_playbook

TARGETS = ("hangar_image_info", "hangar_image")
PLAY = """- hosts: localhost
  gather_facts: false
  module_defaults:
    group/airgap.hangar.hangar:
      tls_verify: false
  roles: [%s]
"""


def test_image_targets_check_real_check_real(registry, client_for, image_factory, unique_repo, tmp_path):
    client = client_for(registry)
    images = []
    for image in (image_factory.oci_index(), image_factory.docker_image()):
        repository = unique_repo("targets")
        image.push(client, repository, "1.0")
        images.append("%s/%s:1.0" % (registry.host, repository))
    playbook = tmp_path / "image-targets.yml"
    playbook.write_text(PLAY % ", ".join(TARGETS))

    result = run_playbook(playbook, tmp_path, inventory={"all": {"hosts": {"localhost": local_host()}}},
                          extra_vars=dict(hangar_images=images),
                          env={"ANSIBLE_ROLES_PATH": str(repo_path("tests", "integration", "targets"))})

    assert result.returncode == 0, result.failures()
    ran = {task["task"]["name"].split(" : ")[0] for task in result.tasks()}
    assert set(TARGETS) <= ran
    repository = images[0].split("/", 1)[1].rsplit(":", 1)[0]
    assert client.head_manifest(repository, "1.0") is None
    second = images[1].split("/", 1)[1].rsplit(":", 1)[0]
    assert client.head_manifest(second, "1.0") is not None
