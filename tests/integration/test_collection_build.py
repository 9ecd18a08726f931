"""The collection as users get it: `ansible-galaxy collection build`, installed into an empty collections path,
and a playbook of the collection (by its full name) run from there against a test registry."""

import fnmatch
import subprocess
import tarfile

import yaml

from tests.support.playbook_runner import BIN_DIR, local_host, repo_path, run_playbook

# What a build must leave out: test output, caches, the virtualenv, benchmark results.
NOT_SHIPPED = ("build/*", ".venv/*", "tests/output/*", "bench/results/*", "*/__pycache__/*", "*.pyc",
               ".pytest_cache/*", ".ruff_cache/*", ".hypothesis/*", ".git/*", "*.tar.gz", ".ansible/*",
               "changelogs/.plugin-cache.yaml")
SHIPPED = ("plugins/modules/hangar_save.py", "plugins/module_utils/_registry/client.py", "meta/runtime.yml",
           "roles/offline_install/tasks/main.yml", "roles/offline_install/meta/argument_specs.yml",
           "playbooks/offline_install.yml", "docs/awx/credential_type.yml")


def galaxy(*args, cwd):
    finished = subprocess.run([str(BIN_DIR / "ansible-galaxy"), "collection", *args], cwd=cwd, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=300, check=False)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished.stdout


def test_build_install_and_run_a_playbook_of_the_installed_collection(registry, registry_factory, client_for,
                                                                      image_factory, unique_repo, tmp_path):
    galaxy("build", "--output-path", str(tmp_path), str(repo_path()), cwd=tmp_path)
    version = yaml.safe_load(repo_path("galaxy.yml").read_text())["version"]
    tarball = tmp_path / ("airgap-hangar-%s.tar.gz" % version)
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    unwanted = sorted({name.split("/")[0] for name in names
                       if any(fnmatch.fnmatch(name, pattern) for pattern in NOT_SHIPPED)})
    assert unwanted == [], "galaxy.yml build_ignore should leave out what these hold: %s" % unwanted
    assert set(SHIPPED) <= set(names)

    collections = tmp_path / "collections"
    galaxy("install", str(tarball), "-p", str(collections), cwd=tmp_path)
    assert (collections / "ansible_collections" / "airgap" / "hangar" / "roles" / "offline_install").is_dir()

    repository = unique_repo("src")
    image = image_factory.oci_index()
    image.push(client_for(registry), repository, "1.0")
    destination = registry_factory()
    result = run_playbook("airgap.hangar.offline_install", tmp_path,
                          inventory={"all": {"hosts": {"airgap-site": local_host()}}},
                          extra_vars=dict(hangar_hosts="airgap-site",
                                          offline_install_images=["%s/%s:1.0" % (registry.host, repository)],
                                          offline_install_archive=str(tmp_path / "archive" / "images.zip"),
                                          offline_install_registry=destination.host,
                                          offline_install_source_tls_verify=False,
                                          offline_install_registry_tls_verify=False),
                          collections_path=collections)

    assert result.returncode == 0, result.failures()
    assert result.task("Validate the destination registry against the archive")["airgap-site"]["stats"]["passed"] == 1
    assert client_for(destination).head_manifest(repository, "1.0")["digest"] == image.digest
