"""hangar_image against real registries, one with deletion enabled and one without: check mode
writes nothing (access log), real runs change what skopeo sees, reruns are `changed: false`,
shared manifests are refused unless forced, and removing platforms rewrites the index."""

import json

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._image.digest import sha256_digest
from ansible_collections.airgap.hangar.plugins.module_utils._image.media_types import OCI_INDEX
from tests.support import skopeo
from tests.support.module_runner import run_module

WRITE_METHODS = ("PUT", "POST", "PATCH", "DELETE")


def writes(server, repository):
    return sum(server.count_requests(method, r"^/v2/%s/" % repository) for method in WRITE_METHODS)


def image_module(server, name, check_mode=False, diff=False, **options):
    return run_module("hangar_image", dict(name="%s/%s" % (server.host, name), state="absent", tls_verify=False,
                                           **options), check_mode=check_mode, diff=diff)


def served(server, ref):
    """The manifest bytes skopeo reads for `ref`, or None when the registry does not have it."""
    try:
        return skopeo.inspect_raw(ref, server)
    except skopeo.SkopeoError as exc:
        assert "manifest unknown" in str(exc).lower() or "not found" in str(exc).lower(), exc
        return None


def test_delete_check_real_check_real(registry, client_for, image_factory, unique_repo):
    client = client_for(registry)
    repository = unique_repo("del")
    image = image_factory.oci_index()
    image.push(client, repository, "0.9")
    keep = image_factory.docker_image()
    keep.push(client, repository, "1.0")
    name = "%s:0.9" % repository
    before_writes = writes(registry, repository)

    check = image_module(registry, name, check_mode=True, diff=True)
    assert check.get("failed") is not True, check
    assert check["changed"] is True
    assert check["image"]["deleted"] == image.digest and check["image"]["tags_removed"] == ["0.9"]
    assert check["image"]["after"]["exists"] is False
    assert image.digest in check["diff"]["before"] and check["diff"]["after"].endswith("absent\n")
    assert check["msg"].startswith("Would delete")
    assert writes(registry, repository) == before_writes, "check mode sent a write request"
    assert served(registry, name) == image.data

    real = image_module(registry, name, diff=True)
    assert real.get("failed") is not True, real
    assert real["changed"] is True
    assert real["image"]["before"]["digest"] == image.digest
    assert [p["platform"] for p in real["image"]["before"]["platforms"]] == ["linux/amd64", "linux/arm64"]
    assert real["diff"] == check["diff"]
    assert served(registry, name) is None
    assert client.head_manifest(repository, image.digest) is None
    assert sorted(client.list_tags(repository)) == ["1.0"]
    assert served(registry, "%s:1.0" % repository) == keep.data
    assert registry.count_requests("DELETE", r"^/v2/%s/manifests/%s$" % (repository, image.digest)) == 1

    after_writes = writes(registry, repository)
    again_check = image_module(registry, name, check_mode=True)
    again = image_module(registry, name)
    for result in (again_check, again):
        assert result.get("failed") is not True, result
        assert result["changed"] is False
        assert result["image"]["deleted"] is None
        assert result["msg"].endswith("is absent already")
    assert writes(registry, repository) == after_writes

    gone = image_module(registry, "%s:1.0" % unique_repo("del"))
    assert gone["changed"] is False, "a repository that does not exist is absent too"


def test_a_manifest_other_tags_name_is_refused_unless_forced(registry, client_for, image_factory, unique_repo):
    client = client_for(registry)
    repository = unique_repo("del")
    image = image_factory.oci_index(attestations=False)
    for tag in ("1.0", "latest", "stable"):
        image.push(client, repository, tag)
    before_writes = writes(registry, repository)

    for check_mode in (True, False):
        refused = image_module(registry, "%s:1.0" % repository, check_mode=check_mode)
        assert refused["failed"] is True
        assert "the tags latest, stable name the same manifest" in refused["msg"]
        assert "force: true" in refused["msg"] and image.digest in refused["msg"]
    assert writes(registry, repository) == before_writes
    assert sorted(client.list_tags(repository)) == ["1.0", "latest", "stable"]

    forced = image_module(registry, "%s:1.0" % repository, force=True)
    assert forced["changed"] is True
    assert forced["image"]["tags_removed"] == ["1.0", "latest", "stable"]
    assert "also removed the tags latest, stable" in forced["msg"]
    assert client.list_tags(repository) == []
    assert all(served(registry, "%s:%s" % (repository, tag)) is None for tag in ("1.0", "latest", "stable"))


def test_a_manifest_another_index_lists_is_refused_and_digests_work(registry, client_for, image_factory,
                                                                    unique_repo):
    client = client_for(registry)
    repository = unique_repo("del")
    image = image_factory.oci_index(attestations=False)
    image.push(client, repository, "1.0")
    amd64 = image.children[0]
    client.put_manifest(repository, "1.0-linux-amd64", amd64.data, amd64.media_type)

    refused = image_module(registry, "%s:1.0-linux-amd64" % repository)
    assert refused["failed"] is True
    assert "the index at 1.0 lists it and would be left broken" in refused["msg"]

    by_digest = image_module(registry, "%s@%s" % (repository, image.digest), check_mode=True)
    assert by_digest["failed"] is True, "a digest that tags name is refused too: the tags would go with it"
    assert "the tag 1.0 names the same manifest" in by_digest["msg"]
    digest_refused = image_module(registry, "%s@%s" % (repository, amd64.digest))
    assert digest_refused["failed"] is True
    assert "the tag 1.0-linux-amd64 names the same manifest" in digest_refused["msg"]
    assert "the index at 1.0 lists it" in digest_refused["msg"]
    assert served(registry, "%s:1.0" % repository) == image.data

    deleted = image_module(registry, "%s@%s" % (repository, image.digest), force=True)
    assert deleted["changed"] is True and deleted["image"]["deleted"] == image.digest
    assert deleted["image"]["tags_removed"] == ["1.0"]
    assert served(registry, "%s:1.0" % repository) is None
    assert served(registry, "%s:1.0-linux-amd64" % repository) == amd64.data, "its platform tag stays"


def test_removing_platforms_rewrites_the_index_by_the_load_rules(registry, client_for, image_factory, unique_repo):
    client = client_for(registry)
    repository = unique_repo("plat")
    image = image_factory.oci_index(platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"))
    image.push(client, repository, "1.0")
    image.push(client, repository, "1.0-old")
    name = "%s:1.0" % repository
    before_writes = writes(registry, repository)

    check = image_module(registry, name, check_mode=True, diff=True, platforms=["linux/arm64", "linux/arm"])
    assert check.get("failed") is not True, check
    assert check["changed"] is True
    assert writes(registry, repository) == before_writes, "check mode sent a write request"
    assert served(registry, name) == image.data
    assert "linux/arm64" in check["diff"]["before"] and "linux/arm64" not in check["diff"]["after"]

    real = image_module(registry, name, platforms=["linux/arm64", "linux/arm"])
    assert real["changed"] is True
    assert real["image"]["platforms_removed"] == ["linux/arm64", "linux/arm/v7"]
    data = served(registry, name)
    index = json.loads(data)
    assert sha256_digest(data) == real["image"]["after"]["digest"] == check["image"]["after"]["digest"]
    assert index["mediaType"] == OCI_INDEX
    amd64 = image.top.children[0]
    kept = [m["digest"] for m in index["manifests"]]
    amd64_attestation = next(m["digest"] for m in image.top.children
                             if (m.get("annotations") or {}).get("vnd.docker.reference.digest") == amd64["digest"])
    assert kept == [amd64["digest"], amd64_attestation], "the removed platforms' attestations went with them"
    assert sorted(real["image"]["attestations_removed"]) == sorted(
        m["digest"] for m in image.top.children if m["platform"]["os"] == "unknown" and m["digest"] != kept[1])
    assert served(registry, "%s:1.0-old" % repository) == image.data, "other tags are not touched"
    assert registry.count_requests("PUT", r"^/v2/%s/manifests/1\.0$" % repository) == 2  # the push, the rewrite

    after_writes = writes(registry, repository)
    for check_mode in (True, False):
        again = image_module(registry, name, check_mode=check_mode, platforms=["linux/arm64", "linux/arm"])
        assert again.get("failed") is not True, again
        assert again["changed"] is False
        assert "holds none of the platforms" in again["msg"]
    assert writes(registry, repository) == after_writes

    every = image_module(registry, name, platforms=["linux/amd64"])
    assert every["failed"] is True and "would remove every platform" in every["msg"]
    assert served(registry, name) == data


def test_platforms_of_a_single_image_and_of_a_docker_list(registry, client_for, image_factory, unique_repo):
    client = client_for(registry)
    repository = unique_repo("plat")
    single = image_factory.docker_image()
    single.push(client, repository, "single")
    listed = image_factory.docker_manifest_list(platforms=("linux/amd64", "linux/arm64/v8"))
    listed.push(client, repository, "list")

    other = image_module(registry, "%s:single" % repository, platforms=["linux/arm64"])
    assert other["changed"] is False
    own = image_module(registry, "%s:single" % repository, platforms=["linux/amd64"])
    assert own["failed"] is True and "single-platform image (linux/amd64)" in own["msg"]

    removed = image_module(registry, "%s:list" % repository, platforms=["linux/arm64"])
    assert removed["image"]["platforms_removed"] == ["linux/arm64/v8"], "arm64 and arm64/v8 are one platform"
    index = json.loads(served(registry, "%s:list" % repository))
    assert index["mediaType"] == OCI_INDEX
    assert [m["digest"] for m in index["manifests"]] == [listed.top.children[0]["digest"]]


def test_deletion_disabled_is_reported_and_changes_nothing(registry_factory, client_for, image_factory, unique_repo):
    server = registry_factory(delete=False, count_requests=True)
    client = client_for(server)
    repository = unique_repo("nodel")
    image = image_factory.oci_index()
    image.push(client, repository, "1.0")
    name = "%s:1.0" % repository
    before_writes = writes(server, repository)

    check = image_module(server, name, check_mode=True)
    assert check["changed"] is True, "check mode cannot know; only a real DELETE asks"
    assert writes(server, repository) == before_writes

    refused = image_module(server, name)
    assert refused["failed"] is True
    assert "does not allow deleting manifests (HTTP 405 UNSUPPORTED)" in refused["msg"]
    assert "storage.delete.enabled: true" in refused["msg"]
    assert served(server, name) == image.data
    assert server.count_requests("DELETE", r"^/v2/%s/manifests/" % repository, status=405) == 1

    # Rewriting an index is a PUT, which such a registry allows.
    rewritten = image_module(server, name, platforms=["linux/arm64"])
    assert rewritten["changed"] is True
    assert [m["digest"] for m in json.loads(served(server, name))["manifests"]] == [
        image.top.children[0]["digest"], image.top.children[2]["digest"]]


@pytest.mark.parametrize("options, expected", [
    (dict(name="127.0.0.1:5000/team/app:1.0@sha256:" + "a" * 64), "give a tag or a digest, not both"),
    (dict(name="127.0.0.1:5000/team/app@sha256:" + "a" * 64, platforms=["linux/arm64"]), "give a tag"),
    (dict(name="127.0.0.1:5000/team/app:1.0", platforms=["arm64"]), "invalid platform 'arm64'"),
    (dict(name="127.0.0.1:5000/team/app:1.0", platforms=[]), "platforms is empty"),
    (dict(name="127.0.0.1:5000/Team/app:1.0"), "'127.0.0.1:5000/Team/app:1.0'"),
    (dict(name="127.0.0.1:5000/team/app:1.0", state="present"), "value of state must be one of: absent"),
])
def test_bad_input_names_the_value(options, expected):
    result = run_module("hangar_image", dict(dict(state="absent", tls_verify=False), **options))
    assert result["failed"] is True
    assert expected in result["msg"]


@pytest.mark.parametrize("server_fixture", ["basic_registry", "token_registry"])
def test_delete_with_credentials(server_fixture, request, client_for, image_factory, unique_repo):
    server = request.getfixturevalue(server_fixture)
    client = client_for(server)
    repository = unique_repo("auth")
    image = image_factory.docker_image()
    image.push(client, repository, "1.0")

    result = image_module(server, "%s:1.0" % repository, username=server.username, password=server.password)

    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert served(server, "%s:1.0" % repository) is None
    assert server.password not in json.dumps(result)
    if server_fixture == "token_registry":
        asked = [scope for _user, scopes in server.token_server.token_requests for scope in scopes]
        wanted = {"type": "repository", "name": repository, "actions": ["delete"]}
        assert wanted in asked, "DELETE asks for the delete action"


def test_a_signed_schema1_image_is_inspected_and_deleted_by_its_registry_digest(
        registry, client_for, image_factory, unique_repo):
    client = client_for(registry)
    repository = unique_repo("s1")
    image = image_factory.schema1_image(signed=True, name=repository, tag="old")
    image.push(client, repository, "old")
    name = "%s:old" % repository

    info = run_module("hangar_image_info", dict(images=["%s/%s" % (registry.host, name)], tls_verify=False))
    (found,) = info["images"]
    assert found["digest"] == image.digest != sha256_digest(image.data)
    assert found["platforms"][0]["platform"] == "linux/amd64" and found["platforms"][0]["layer_count"] == 2
    assert found["platforms"][0]["labels"]["org.example.seed"]

    deleted = image_module(registry, name)
    assert deleted.get("failed") is not True, deleted
    assert deleted["changed"] is True and deleted["image"]["deleted"] == image.digest
    assert client.head_manifest(repository, "old") is None
    assert image_module(registry, name)["changed"] is False
