"""Check mode writes nothing (issue 12): no failed_file, no folder, no archive; the message says what would be
written. And failed_file lines always read back as a list file, mappings without a tag included."""

import os

from ansible_collections.airgap.hangar.plugins.module_utils._image import image_list
from tests.support.module_runner import run_module
from tests.support.playbook_runner import local_host, repo_path, run_playbook


def tree(path):
    return sorted(os.path.relpath(os.path.join(root, name), path)
                  for root, dirs, files in os.walk(path) for name in dirs + files)


def test_check_mode_writes_no_failed_file_and_no_folder(registry, registry_factory, client_for, image_factory,
                                                        unique_repo, tmp_path):
    destination = registry_factory()
    present = unique_repo("check")
    image_factory.docker_image().push(client_for(registry), present, "1.0")
    failed_file = str(tmp_path / "failed.txt")
    images = ["%s/%s:1.0" % (registry.host, present), "%s/%s:1.0" % (registry.host, unique_repo("missing"))]
    before = tree(tmp_path)

    mirrored = run_module("hangar_mirror", dict(images=images, registry=destination.host, tls_verify=False,
                                                source_tls_verify=False, failed_file=failed_file), check_mode=True)
    saved = run_module("hangar_save", dict(images=images, archive=str(tmp_path / "new" / "images.zip"),
                                           tls_verify=False, failed_file=failed_file), check_mode=True)

    assert tree(tmp_path) == before, "check mode wrote to the file system"
    for result in (mirrored, saved):
        assert result["stats"]["failed"] == 1 and result["failed_images"] == [images[1]], result
        assert "would write 1 line to %s" % failed_file in result["msg"], result["msg"]

    real = run_module("hangar_mirror", dict(images=images, registry=destination.host, tls_verify=False,
                                            source_tls_verify=False, failed_file=failed_file))
    assert real["stats"]["failed"] == 1
    with open(failed_file, encoding="utf-8") as stream:
        assert stream.read() == images[1] + "\n"


def test_failed_mapping_without_tag_reads_back_as_a_list(registry, registry_factory, unique_repo, tmp_path):
    destination = registry_factory()
    missing = unique_repo("missing")
    failed_file = str(tmp_path / "failed.txt")
    item = {"source": "%s/%s" % (registry.host, missing), "dest": "%s/copy/%s" % (destination.host, missing)}
    args = dict(images=[item], tls_verify=False, source_tls_verify=False, failed_file=failed_file)

    first = run_module("hangar_mirror", args)

    assert first["stats"]["failed"] == 1, first
    entries = image_list.read_image_list(failed_file, allow_mirror=True)
    assert len(entries) == 1
    assert str(entries[0].source) == "%s/%s:latest" % (registry.host, missing)
    assert str(entries[0].dest) == "%s/copy/%s:latest" % (destination.host, missing)
    retried = run_module("hangar_mirror", dict(args, images=None, file=failed_file, failed_file=None))
    assert retried["stats"]["failed"] == 1
    assert retried["images"][0]["destination"] == first["images"][0]["destination"]


def test_mirror_playbook_passes_check_mode_on_a_first_run(registry, registry_factory, client_for, image_factory,
                                                          unique_repo, tmp_path):
    destination = registry_factory()
    repository = unique_repo("pb")
    image_factory.docker_image().push(client_for(registry), repository, "1.0")
    extra_vars = dict(mirror_images=["%s/%s:1.0" % (registry.host, repository)], mirror_registry=destination.host,
                      mirror_tls_verify=False, mirror_source_tls_verify=False)
    inventory = {"all": {"hosts": {"localhost": local_host()}}}

    checked = run_playbook(repo_path("playbooks", "mirror.yml"), tmp_path, inventory=inventory,
                           extra_vars=extra_vars, options=["--check"])

    assert checked.returncode == 0, checked.failures()
    assert checked.task("Mirror the images")["localhost"]["changed"] is True
    validated = checked.task("Validate the mirror")["localhost"]
    assert validated["stats"]["failed"] == 1 and not validated.get("failed"), validated

    real = run_playbook(repo_path("playbooks", "mirror.yml"), tmp_path, inventory=inventory, extra_vars=extra_vars)
    assert real.returncode == 0, real.failures()
    assert real.task("Validate the mirror")["localhost"]["stats"]["passed"] == 1
