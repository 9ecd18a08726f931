"""Diff mode for hangar_save, hangar_load and hangar_mirror (issue 12): `diff` says, per destination that changed,
its digest and platforms before and after; check mode predicts the same diff; a rerun has an empty diff.
Once through ansible-playbook --diff."""

import pytest

from tests.support.module_runner import run_module
from tests.support.playbook_runner import local_host, run_playbook

EMPTY = {"digest": None, "platforms": []}


@pytest.fixture
def two_platform_image(registry, client_for, image_factory, unique_repo):
    repository = unique_repo("diff")
    image = image_factory.oci_index(platforms=("linux/amd64", "linux/arm64"), attestations=False)
    image.push(client_for(registry), repository, "1.0")
    return repository, image


def test_mirror_diff_check_mode_real_and_rerun(registry, registry_factory, two_platform_image):
    destination = registry_factory()
    repository, image = two_platform_image
    args = dict(images=["%s/%s:1.0" % (registry.host, repository)], registry=destination.host, tls_verify=False,
                source_tls_verify=False)
    key = "%s/%s:1.0" % (destination.host, repository)
    expected = {"before": {key: EMPTY},
                "after": {key: {"digest": image.digest, "platforms": ["linux/amd64", "linux/arm64"]}}}

    predicted = run_module("hangar_mirror", args, check_mode=True, diff=True)
    assert predicted["changed"] is True and predicted["diff"] == expected, predicted
    real = run_module("hangar_mirror", args, diff=True)
    assert real["changed"] is True and real["diff"] == expected, real
    again = run_module("hangar_mirror", args, diff=True)
    assert again["changed"] is False and again["diff"] == {"before": {}, "after": {}}, again
    without = run_module("hangar_mirror", args)
    assert "diff" not in without


def test_load_diff_shows_the_merge(registry, registry_factory, two_platform_image, tmp_path):
    destination = registry_factory()
    repository, image = two_platform_image
    reference = "%s/%s:1.0" % (registry.host, repository)
    archives = {}
    for arch in ("amd64", "arm64"):
        archives[arch] = str(tmp_path / ("%s.zip" % arch))
        run_module("hangar_save", dict(images=[reference], archive=archives[arch], arch=[arch], tls_verify=False))
    key = "%s/%s:1.0" % (destination.host, repository)

    first = run_module("hangar_load", dict(archive=archives["amd64"], registry=destination.host, tls_verify=False),
                       diff=True)
    assert first["diff"]["before"] == {key: EMPTY}, first
    assert first["diff"]["after"][key]["platforms"] == ["linux/amd64"]
    second = run_module("hangar_load", dict(archive=archives["arm64"], registry=destination.host, tls_verify=False),
                        diff=True)
    assert second["diff"]["before"] == first["diff"]["after"], second
    assert second["diff"]["after"][key]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert second["diff"]["after"][key]["digest"] == second["images"][0]["digest"]


def test_save_diff_names_archive_entries(registry, two_platform_image, tmp_path):
    repository, image = two_platform_image
    archive = str(tmp_path / "images.zip")
    reference = "%s/%s:1.0" % (registry.host, repository)
    args = dict(images=[reference], archive=archive, tls_verify=False)
    expected = {"before": {reference: EMPTY},
                "after": {reference: {"digest": image.digest, "platforms": ["linux/amd64", "linux/arm64"]}},
                "before_header": archive, "after_header": archive}

    predicted = run_module("hangar_save", args, check_mode=True, diff=True)
    assert predicted["diff"] == expected, predicted
    real = run_module("hangar_save", args, diff=True)
    assert real["diff"] == expected, real
    narrowed = run_module("hangar_save", dict(args, arch=["arm64"]), diff=True)
    assert narrowed["diff"]["before"] == expected["after"]
    assert narrowed["diff"]["after"][reference]["platforms"] == ["linux/arm64"]


def test_playbook_diff(registry, registry_factory, two_platform_image, tmp_path):
    destination = registry_factory()
    repository, image = two_platform_image
    playbook = tmp_path / "mirror.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Mirror
      airgap.hangar.hangar_mirror:
        images: ["%s/%s:1.0"]
        registry: "%s"
        tls_verify: false
        source_tls_verify: false
""" % (registry.host, repository, destination.host))
    inventory = {"all": {"hosts": {"localhost": local_host()}}}
    result = run_playbook(str(playbook), tmp_path, inventory=inventory, options=["--diff"])
    assert result.returncode == 0, result.failures()
    task = result.task("Mirror")["localhost"]
    key = "%s/%s:1.0" % (destination.host, repository)
    assert task["changed"] is True
    assert task["diff"]["after"][key]["digest"] == image.digest, task
