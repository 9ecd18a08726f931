"""Several hangar_image runs at once on one tag, as parallel AWX jobs do: real processes, repeated.
Every run succeeds, the registry ends in the state each asked for, and other tags are untouched."""

import contextlib
import json

from ansible_collections.airgap.hangar.plugins.module_utils._image.digest import sha256_digest
from tests.support import skopeo
from tests.support.module_process import ModuleProcess

RUNS = 3
PROCESSES = 3


def run_at_once(tmp_path, round_number, args):
    with contextlib.ExitStack() as stack:
        processes = []
        for number in range(PROCESSES):
            workdir = tmp_path / ("round-%d-%d" % (round_number, number))
            workdir.mkdir()
            processes.append(stack.enter_context(ModuleProcess("hangar_image", args, workdir)))
        return [process.wait() for process in processes]


def test_concurrent_deletes_of_one_tag_all_succeed(registry, client_for, image_factory, unique_repo, tmp_path):
    client = client_for(registry)
    for round_number in range(RUNS):
        repository = unique_repo("race")
        image = image_factory.oci_index()
        image.push(client, repository, "old")
        keep = image_factory.docker_image()
        keep.push(client, repository, "keep")

        results = run_at_once(tmp_path, round_number, dict(name="%s/%s:old" % (registry.host, repository),
                                                           state="absent", tls_verify=False))

        assert [r.get("failed") for r in results] == [None] * PROCESSES, results
        assert any(r["changed"] for r in results)
        assert client.head_manifest(repository, "old") is None
        assert client.list_tags(repository) == ["keep"]
        assert skopeo.inspect_raw("%s:keep" % repository, registry) == keep.data


def test_concurrent_removals_of_one_platform_converge(registry, client_for, image_factory, unique_repo, tmp_path):
    client = client_for(registry)
    for round_number in range(RUNS):
        repository = unique_repo("race")
        image = image_factory.oci_index(platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"))
        image.push(client, repository, "1.0")

        results = run_at_once(tmp_path, round_number, dict(name="%s/%s:1.0" % (registry.host, repository),
                                                           state="absent", platforms=["linux/arm64"],
                                                           tls_verify=False))

        assert [r.get("failed") for r in results] == [None] * PROCESSES, results
        data = skopeo.inspect_raw("%s:1.0" % repository, registry)
        index = json.loads(data)
        platforms = [m["platform"]["architecture"] for m in index["manifests"] if m["platform"]["os"] != "unknown"]
        assert platforms == ["amd64", "arm"]
        assert {r["image"]["after"]["digest"] for r in results} == {sha256_digest(data)}
