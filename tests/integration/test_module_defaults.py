"""module_defaults for group/airgap.hangar.hangar, and credentials from the environment an AWX credential type
injects, with ansible-playbook against Basic-auth registries (docs/AWX.md describes both)."""

import yaml

from tests.support.playbook_runner import run_playbook

PLAYBOOK = [
    {
        "name": "Registry and credentials set once for the group",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/airgap.hangar.hangar": {
            "registry": "{{ basic_host }}", "username": "{{ basic_user }}", "password": "{{ basic_password }}",
            "tls_verify": False, "source_tls_verify": False}},
        "tasks": [
            {"name": "Mirror, no registry or credentials in the task",
             "airgap.hangar.hangar_mirror": {"images": ["{{ source_image }}"], "project": "defaults"}},
            {"name": "Validate, no registry or credentials in the task",
             "airgap.hangar.hangar_validate": {"images": ["{{ source_image }}"], "project": "defaults"}},
            {"name": "Save, which has no registry option",
             "airgap.hangar.hangar_save": {"images": ["{{ source_image }}"], "archive": "{{ archive }}"},
             "ignore_errors": True},
        ],
    },
    {
        "name": "Credentials from the environment",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/airgap.hangar.hangar": {
            "registry": "{{ env_host }}", "tls_verify": False, "source_tls_verify": False}},
        "tasks": [
            {"name": "Mirror from the Basic-auth registry to the other one",
             "airgap.hangar.hangar_mirror": {"images": ["{{ mirrored_image }}"]}},
            {"name": "Validate the second mirror",
             "airgap.hangar.hangar_validate": {"images": ["{{ mirrored_image }}"]}},
        ],
    },
]


def test_group_defaults_and_environment_credentials(registry, basic_registry, registry_factory, client_for,
                                                    image_factory, unique_repo, tmp_path):
    env_registry = registry_factory(auth="basic", username="injected")
    repository = unique_repo("src")
    image = image_factory.docker_manifest_list(platforms=("linux/amd64", "linux/arm64/v8"))
    image.push(client_for(registry), repository, "1.0")
    mirrored_repo = "defaults/" + repository.split("/", 1)[1]
    playbook = tmp_path / "module_defaults.yml"
    playbook.write_text(yaml.safe_dump(PLAYBOOK, sort_keys=False))
    # What an AWX credential type of docs/awx/credential_type.yml injects. HANGAR_REGISTRY_* name the other
    # registry: the first play passes only if module_defaults' credentials win over the environment.
    env = dict(HANGAR_REGISTRY_USERNAME=env_registry.username, HANGAR_REGISTRY_PASSWORD=env_registry.password,
               HANGAR_SOURCE_USERNAME=basic_registry.username, HANGAR_SOURCE_PASSWORD=basic_registry.password)

    result = run_playbook(playbook, tmp_path, extra_vars=dict(
        basic_host=basic_registry.host, basic_user=basic_registry.username, basic_password=basic_registry.password,
        env_host=env_registry.host, source_image="%s/%s:1.0" % (registry.host, repository),
        mirrored_image="%s/%s:1.0" % (basic_registry.host, mirrored_repo), archive=str(tmp_path / "images.zip"),
    ), env=env)

    assert result.returncode == 0, result.failures()
    first_mirror = result.task("Mirror, no registry or credentials in the task")["localhost"]
    assert first_mirror["changed"] is True and first_mirror["stats"]["copied"] == 1
    assert result.task("Validate, no registry or credentials in the task")["localhost"]["stats"]["passed"] == 1
    assert client_for(basic_registry).head_manifest(mirrored_repo, "1.0")["digest"] == image.digest
    # ansible-core gives a module every option of the group's defaults, whether the module has it or not.
    save = result.task("Save, which has no registry option")["localhost"]
    assert save["failed"] is True
    assert "Unsupported parameters" in save["msg"] and "registry, source_tls_verify" in save["msg"]

    assert result.task("Mirror from the Basic-auth registry to the other one")["localhost"]["stats"]["copied"] == 1
    assert result.task("Validate the second mirror")["localhost"]["stats"]["passed"] == 1
    assert client_for(env_registry).head_manifest(mirrored_repo, "1.0")["digest"] == image.digest
    assert result.stats["localhost"]["ignored"] == 1 and result.stats["localhost"]["failures"] == 0
    output = repr(result.report) + result.stderr
    assert basic_registry.password not in output and env_registry.password not in output
