"""The role airgap.hangar.offline_install through playbooks/offline_install.yml, with ansible-playbook.

One host loads; the controller (localhost) saves, and the archive goes across with fetch + copy. The runs:
check mode, real, check mode again, real again (changed=0, no blob sent), one image more, a lost tag.
A second test splits a list across three hosts (offline_install_shard).
"""

import hashlib

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._archive.reader import ArchiveReader
from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient
from tests.support.playbook_runner import local_host, repo_path, run_playbook

PLAYBOOK = repo_path("playbooks", "offline_install.yml")
SAVE_TASK = "Save the images into the archive"
LOAD_TASK = "Load the archive into the destination registry"
VALIDATE_TASK = "Validate the destination registry against the archive"
TWO_PLATFORMS = ("linux/amd64", "linux/arm64/v8")


def statuses(task_result):
    """{source reference: status} from a save, load or validate result."""
    return {image["reference"]: image["status"] for image in task_result["images"]}


def push_images(client, image_factory, unique_repo, kinds):
    """Push one image per kind to new repositories; {repository: TestImage}, all tagged 1.0."""
    images = {}
    for kind in kinds:
        repository = unique_repo("src")
        images[repository] = kind(image_factory)
        images[repository].push(client, repository, "1.0")
    return images


@pytest.fixture
def destination(registry_factory):
    return registry_factory(auth="basic", count_requests=True)


def test_check_real_rerun_add_one_and_lost_tag(registry, destination, client_for, image_factory, unique_repo, tmp_path):
    source = push_images(client_for(registry), image_factory, unique_repo, (
        lambda f: f.oci_index(),
        lambda f: f.docker_manifest_list(platforms=TWO_PLATFORMS),
        lambda f: f.docker_image(),
        lambda f: f.oci_image(),
    ))
    references = ["%s/%s:1.0" % (registry.host, repository) for repository in source]
    image_list = tmp_path / "images.txt"
    image_list.write_text("# two from the file\n\n%s\n// and one inline\n%s\n" % (references[0], references[1]))
    connected, airgapped = tmp_path / "connected" / "images.zip", tmp_path / "airgap" / "images.zip"
    connected.parent.mkdir()  # so that check mode can tell what it would save; the role creates airgap/
    extra_vars = dict(
        hangar_hosts="airgap",
        offline_install_images=[references[2]],
        offline_install_images_file=str(image_list),
        offline_install_archive=str(connected),
        offline_install_save_host="localhost",
        offline_install_transfer="fetch",
        offline_install_staging_dir=str(tmp_path / "staging"),
        offline_install_airgap_archive=str(airgapped),
        offline_install_registry=destination.host,
        offline_install_project="airgap",
        offline_install_registry_username=destination.username,
        offline_install_registry_password=destination.password,
        offline_install_source_tls_verify=False,
        offline_install_registry_tls_verify=False,
    )
    inventory = {"airgap": {"hosts": {"airgap-site": local_host()}}}
    dest_client = client_for(destination)

    def play(check=False, tags=None, **more_vars):
        options = (["--check"] if check else []) + (["--tags", tags] if tags else [])
        return run_playbook(PLAYBOOK, tmp_path, inventory, dict(extra_vars, **more_vars), options=options)

    checked = play(check=True)
    assert checked.returncode == 0, checked.failures()
    assert checked.task(SAVE_TASK)["airgap-site"]["changed"] is True
    assert set(statuses(checked.task(SAVE_TASK)["airgap-site"]).values()) == {"copied"}
    assert not connected.exists() and not airgapped.exists()
    assert dest_client.catalog() == []

    real = play()
    assert real.returncode == 0, real.failures()
    changed = {name.split(" : ")[-1] for name, host in real.changed_tasks()}
    assert {SAVE_TASK, "Fetch the archive from the connected host to the controller",
            "Copy the archive to the air-gapped host", LOAD_TASK} <= changed
    validated = real.task(VALIDATE_TASK)["airgap-site"]["stats"]
    assert (validated["passed"], validated["failed"]) == (3, 0)
    assert connected.read_bytes() == airgapped.read_bytes()
    # offline_install_checksum_file: the checksum file travels with the archive (the load checks it).
    assert (airgapped.parent / "images.zip.sha256").read_text() == \
        "%s  images.zip\n" % hashlib.sha256(connected.read_bytes()).hexdigest()
    for repository in list(source)[:3]:
        dest_repo = "airgap/" + repository.split("/", 1)[1]
        assert dest_client.head_manifest(dest_repo, "1.0")["digest"] == source[repository].digest
    assert destination.password not in real.report.__repr__() + real.stderr

    assert play(check=True).changed == {"airgap-site": 0}
    # Layers, not configs: the platform of a single-platform image is in its config, which save reads again.
    layer_digests = [descriptor["digest"] for image in source.values()
                     for manifest in image.manifests for descriptor in manifest.layers]
    source_layers = "/blobs/(%s)$" % "|".join(layer_digests)
    reads = registry.count_requests("GET", source_layers)
    uploads = destination.count_requests("PUT", r"/blobs/uploads/")
    manifests = destination.count_requests("PUT", r"/manifests/")
    again = play()
    assert again.returncode == 0 and again.changed == {"airgap-site": 0}, again.changed_tasks()
    assert again.task("Copy the archive to the air-gapped host")["airgap-site"].get("skipped") is True
    assert registry.count_requests("GET", source_layers) == reads
    assert destination.count_requests("PUT", r"/blobs/uploads/") == uploads
    assert destination.count_requests("PUT", r"/manifests/") == manifests

    added = play(offline_install_images=references[2:])
    assert added.returncode == 0, added.failures()
    for task in (SAVE_TASK, LOAD_TASK):
        assert statuses(added.task(task)["airgap-site"]) == {**dict.fromkeys(references[:3], "unchanged"),
                                                             references[3]: "copied"}, task
    last_repo = "airgap/" + list(source)[3].split("/", 1)[1]
    assert dest_client.head_manifest(last_repo, "1.0")["digest"] == source[list(source)[3]].digest

    dest_client.delete_manifest(last_repo, source[list(source)[3]].digest)
    lost = play(tags="validate", offline_install_images=references[2:])
    assert lost.returncode != 0
    validation = lost.task(VALIDATE_TASK)["airgap-site"]
    assert validation["failed"] is True
    assert statuses(validation) == {**dict.fromkeys(references[:3], "passed"), references[3]: "failed"}


def test_shards_across_three_hosts_into_harbor(registry, harbor, client_for, image_factory, unique_repo, tmp_path):
    source = push_images(client_for(registry), image_factory, unique_repo, [lambda f: f.docker_image()] * 5)
    references = ["%s/%s:1.0" % (registry.host, repository) for repository in source]
    project = "shards-" + unique_repo("x").rsplit("-", 1)[1]
    admin, password = harbor.admin
    # Listed out of order: shares follow the sorted names.
    hosts = ("shard-c", "shard-a", "shard-b")
    inventory = {"workers": {"hosts": {name: local_host() for name in hosts}}}
    archive = tmp_path / "archives" / "images.zip"

    result = run_playbook(PLAYBOOK, tmp_path, inventory, dict(
        hangar_hosts="workers",
        offline_install_shard=True,
        offline_install_images=references,
        offline_install_archive=str(archive),
        offline_install_registry=harbor.host,
        offline_install_project=project,
        offline_install_harbor_url=harbor.url,
        offline_install_harbor_projects=[{"name": project, "public": True}],
        offline_install_registry_username=admin,
        offline_install_registry_password=password,
        offline_install_source_tls_verify=False,
        offline_install_registry_tls_verify=False,
    ))

    assert result.returncode == 0, result.failures()
    assert list(result.task("Declare the Harbor projects")) == ["shard-a"]  # once for the play
    assert harbor.state.projects[project]["metadata"]["public"] == "true"
    loaded = []
    for index, host in enumerate(sorted(hosts)):
        share = references[index::3]
        assert list(statuses(result.task(SAVE_TASK)[host])) == share
        assert statuses(result.task(LOAD_TASK)[host]) == dict.fromkeys(share, "copied")
        assert result.task(VALIDATE_TASK)[host]["stats"]["passed"] == len(share)
        with ArchiveReader(str(tmp_path / "archives" / ("images-shard-%d-of-3.zip" % (index + 1)))) as reader:
            assert sorted("%s:%s" % (entry.source, entry.tag) for entry in reader.index.entries) == sorted(share)
        loaded += share
    assert sorted(loaded) == sorted(references)
    artifacts = result.report["custom_stats"]["offline_install"]
    assert {host: artifacts[host]["loaded"]["copied"] for host in hosts} == {"shard-a": 2, "shard-b": 2, "shard-c": 1}
    with RegistryClient(harbor.host, username=admin, password=password, tls_verify=False) as harbor_client:
        for repository, image in source.items():
            dest_repo = "%s/%s" % (project, repository.split("/", 1)[1])
            assert harbor_client.head_manifest(dest_repo, "1.0")["digest"] == image.digest
