"""hangar_image_info against a real registry: what it reports is what skopeo and the pushed images say,
missing references are `exists: false`, and it never writes (the access log shows no write request)."""

import json

from ansible_collections.airgap.hangar.plugins.module_utils._image.artifact_tags import attachment_tag
from ansible_collections.airgap.hangar.plugins.module_utils._image.digest import sha256_digest
from ansible_collections.airgap.hangar.plugins.module_utils._inventory.artifacts import artifacts_by_head
from tests.support import skopeo
from tests.support.image_factory import CREATED
from tests.support.module_runner import run_module

WRITE_METHODS = ("PUT", "POST", "PATCH", "DELETE")


def writes(registry, repository):
    return sum(registry.count_requests(method, r"^/v2/%s/" % repository) for method in WRITE_METHODS)


def info(server, images, check_mode=False, **options):
    return run_module("hangar_image_info", dict(images=images, tls_verify=False, **options), check_mode=check_mode)


def test_index_platforms_configs_attestations_and_raw_match_the_registry(registry, client_for, image_factory,
                                                                         unique_repo):
    client = client_for(registry)
    repository = unique_repo("info")
    image = image_factory.oci_index(platforms=("linux/amd64", "linux/arm64"), labels={"org.example.release": "1.0"})
    image.push(client, repository, "1.0")
    before = writes(registry, repository)

    for check_mode in (True, False):
        result = info(registry, ["%s/%s:1.0" % (registry.host, repository)], check_mode=check_mode, raw=True)

        assert result.get("failed") is not True, result
        assert result["changed"] is False
        (found,) = result["images"]
        served = skopeo.inspect_raw(repository + ":1.0", registry)
        assert found["exists"] is True
        assert found["digest"] == sha256_digest(served) == image.digest
        assert found["media_type"] == "application/vnd.oci.image.index.v1+json"
        assert found["raw"].encode("utf-8") == served
        index = json.loads(served)
        platform_entries = [m for m in index["manifests"] if m["platform"]["os"] != "unknown"]
        assert [p["digest"] for p in found["platforms"]] == [m["digest"] for m in platform_entries]
        assert [p["platform"] for p in found["platforms"]] == ["linux/amd64", "linux/arm64"]
        for platform, entry in zip(found["platforms"], platform_entries):
            manifest = json.loads(skopeo.inspect_raw("%s@%s" % (repository, entry["digest"]), registry))
            config = json.loads(skopeo.inspect_raw("%s@%s" % (repository, entry["digest"]), registry, config=True))
            assert platform["present"] is True
            assert platform["manifest_size"] == entry["size"]
            assert platform["layer_count"] == len(manifest["layers"])
            assert platform["layer_bytes"] == sum(layer["size"] for layer in manifest["layers"])
            assert platform["size"] == platform["layer_bytes"] + manifest["config"]["size"]
            assert platform["created"] == config["created"] == CREATED
            assert platform["labels"] == config["config"]["Labels"]
            assert platform["labels"]["org.example.release"] == "1.0"
        subjects = {a["subject"]: a for a in found["attestations"]}
        assert set(subjects) == {p["digest"] for p in found["platforms"]}
        assert {a["platform"] for a in found["attestations"]} == {"linux/amd64", "linux/arm64"}
        assert all(a["predicate_types"] == ["https://slsa.dev/provenance/v0.2"] for a in found["attestations"])
        assert found["artifacts"] == [] and found["signed"] is False
        assert "tags" not in found
    assert writes(registry, repository) == before


def test_missing_references_are_exists_false_and_a_repository_alone_lists_its_tags(registry, client_for,
                                                                                   image_factory, unique_repo):
    client = client_for(registry)
    repository = unique_repo("info")
    image = image_factory.docker_image()
    for tag in ("2.0", "1.0", "latest"):
        image.push(client, repository, tag)
    absent_repository = unique_repo("info")
    images = ["%s/%s" % (registry.host, repository), "%s/%s:9.9" % (registry.host, repository),
              "%s/%s@sha256:%s" % (registry.host, repository, "0" * 64), "%s/%s" % (registry.host, absent_repository)]

    result = info(registry, images, list_tags=True)

    assert result.get("failed") is not True, result
    whole, missing_tag, missing_digest, absent = result["images"]
    assert whole["tag"] is None and whole["exists"] is True
    assert whole["tags"] == ["1.0", "2.0", "latest"] == sorted(client.list_tags(repository))
    assert "digest" not in whole, "a repository alone is not resolved to latest with list_tags"
    assert missing_tag["exists"] is False and missing_tag["tags"] == whole["tags"]
    assert missing_digest["exists"] is False
    assert absent == dict(absent, exists=False, tags=[])
    assert result["failed_images"] == []
    assert result["msg"] == "Inspected 4 references: 1 exist, 3 missing, 0 failed"

    without = info(registry, ["%s/%s" % (registry.host, repository)])
    assert without["images"][0]["tag"] == "latest" and without["images"][0]["digest"] == image.digest


def test_docker_list_windows_single_image_and_chart(registry, client_for, image_factory, unique_repo):
    client = client_for(registry)
    repository = unique_repo("info")
    images = {
        "list": image_factory.docker_manifest_list(platforms=("linux/amd64", "linux/arm/v7")),
        "windows": image_factory.windows_list(omit_from_entries=("os.version",)),
        "single": image_factory.oci_image(),
        "chart": image_factory.helm_chart(),
    }
    for tag, image in images.items():
        image.push(client, repository, tag)

    result = info(registry, ["%s/%s:%s" % (registry.host, repository, tag) for tag in images])

    by_tag = {found["tag"]: found for found in result["images"]}
    assert [p["platform"] for p in by_tag["list"]["platforms"]] == ["linux/amd64", "linux/arm/v7"]
    assert by_tag["list"]["platforms"][1]["variant"] == "v7"
    assert by_tag["list"]["media_type"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert by_tag["list"]["attestations"] == []
    windows = [p for p in by_tag["windows"]["platforms"] if p["os"] == "windows"]
    assert [p["os_version"] for p in windows] == ["10.0.17763.5329", "10.0.20348.2227"], "completed from the config"
    (single,) = by_tag["single"]["platforms"]
    assert single["digest"] == by_tag["single"]["digest"] == images["single"].digest
    assert single["platform"] == "linux/amd64" and single["layer_count"] == 2
    assert by_tag["chart"]["platforms"] == []
    assert by_tag["chart"]["artifact_type"] == "application/vnd.cncf.helm.config.v1+json"


def test_cosign_artifacts_are_found_by_tag_list_and_by_head(registry, client_for, image_factory, unique_repo):
    client = client_for(registry)
    repository = unique_repo("info")
    image = image_factory.oci_index(attestations=False)
    image.push(client, repository, "1.0")
    signature, sbom = image_factory.oci_image(), image_factory.oci_image()
    signature.push(client, repository, attachment_tag(image.digest, ".sig"))
    arm64 = image.top.children[1]["digest"]
    sbom.push(client, repository, attachment_tag(arm64, ".sbom"))

    result = info(registry, ["%s/%s:1.0" % (registry.host, repository)], check_mode=True)

    (found,) = result["images"]
    assert found["signed"] is True
    assert found["artifacts"] == [
        {"kind": "signature", "tag": attachment_tag(image.digest, ".sig"), "subject": image.digest,
         "digest": signature.digest},
        {"kind": "sbom", "tag": attachment_tag(arm64, ".sbom"), "subject": arm64, "digest": sbom.digest},
    ]
    # Without a tag list (a registry that refuses to list), HEAD requests find the same.
    assert artifacts_by_head(client, repository, [image.digest, arm64]) == found["artifacts"]


def test_overrides_and_digest_references(registry, client_for, image_factory, unique_repo):
    client = client_for(registry)
    repository = unique_repo("info")
    image = image_factory.oci_index(attestations=False)
    image.push(client, repository, "1.0")
    project, rest = repository.split("/", 1)

    result = info(registry, ["other/%s:1.0" % rest, "other/%s@%s" % (rest, image.digest)], registry=registry.host,
                  project=project)

    assert [found["reference"] for found in result["images"]] == [
        "%s/%s:1.0" % (registry.host, repository), "%s/%s@%s" % (registry.host, repository, image.digest)]
    assert [found["digest"] for found in result["images"]] == [image.digest, image.digest]


def test_a_registry_that_cannot_be_read_fails_the_task_after_the_others(registry, client_for, image_factory,
                                                                        unique_repo):
    from tests.support.registry import _free_port

    client = client_for(registry)
    repository = unique_repo("info")
    image_factory.docker_image().push(client, repository, "1.0")
    closed = "127.0.0.1:%d/team/app:1.0" % _free_port()

    result = info(registry, [closed, "%s/%s:1.0" % (registry.host, repository)], jobs=1)

    assert result["failed"] is True
    assert result["failed_images"] == [closed]
    unreachable, readable = result["images"]
    assert unreachable["exists"] is None and "cannot reach" in unreachable["error"]
    assert readable["exists"] is True
    assert "1 failed" in result["msg"] and closed.split("/")[0] in result["msg"]


def test_bad_input_names_the_value(tmp_path):
    result = run_module("hangar_image_info", dict(images=["Bad/Name:1"], tls_verify=False))
    assert result["failed"] is True and "'Bad/Name:1'" in result["msg"]
    result = run_module("hangar_image_info", dict(images=["a/b:1"], jobs=0))
    assert result["failed"] is True and "invalid jobs 0" in result["msg"]
    result = run_module("hangar_image_info", dict(file=str(tmp_path / "absent.txt")))
    assert result["failed"] is True and "absent.txt" in result["msg"]
