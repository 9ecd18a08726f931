"""What a copy asks of the source, counted in the source registry's access log: each blob and each
manifest once (a single-platform image's config, read for its platform, is not fetched again)."""

from tests.support.module_runner import run_module


def test_a_single_platform_mirror_reads_each_source_blob_and_manifest_once(registry_factory, client_for,
                                                                           image_factory, unique_repo):
    source = registry_factory(count_requests=True)
    destination = registry_factory()
    repo = unique_repo()
    image = image_factory.image(layer_sizes=(4096, 8192))
    image.push(client_for(source), repo, "v1")
    config = image.top.config["digest"]
    before = {digest: source.count_requests("GET", r"/blobs/%s$" % digest) for digest in image.blob_digests}
    result = run_module("hangar_mirror", {"images": ["%s/%s %s/%s v1" % (source.host, repo, destination.host, repo)],
                                          "tls_verify": False, "source_tls_verify": False})
    assert result["images"][0]["status"] == "copied", result.get("msg")
    after = {digest: source.count_requests("GET", r"/blobs/%s$" % digest) for digest in image.blob_digests}
    assert {digest: after[digest] - before[digest] for digest in after} == dict.fromkeys(image.blob_digests, 1)
    assert config in after
    assert client_for(destination).get_blob(repo, config) == image.blobs[config]


def head_requests(server, position, repo):
    return [(entry.method, entry.path) for entry in server.requests_since(position, r"^/v2/%s/" % repo, ("HEAD",))]


def test_a_repository_new_to_the_destination_is_filled_without_asking_what_it_holds(
        registry_factory, client_for, image_factory, unique_repo):
    """Its tag list says the registry does not know it: one GET, then no HEAD for any blob or manifest."""
    source, destination = registry_factory(), registry_factory(count_requests=True)
    repo = unique_repo("fresh")
    image = image_factory.docker_manifest_list(platforms=("linux/amd64", "linux/arm64/v8"))
    image.push(client_for(source), repo, "1.0")
    image.push(client_for(source), repo, "1.1")
    before = destination.log_position()

    result = run_module("hangar_mirror", {"images": ["%s/%s:1.0" % (source.host, repo),
                                                     "%s/%s:1.1" % (source.host, repo)],
                                          "registry": destination.host, "arch": [], "os": [], "jobs": 1,
                                          "tls_verify": False, "source_tls_verify": False})

    assert result["changed"] is True, result.get("msg")
    assert [i["status"] for i in result["images"]] == ["copied", "copied"]
    assert head_requests(destination, before, repo) == [
        ("HEAD", "/v2/%s/manifests/1.0" % repo), ("HEAD", "/v2/%s/manifests/1.1" % repo)]
    assert [e.status for e in destination.requests_since(before, r"^/v2/%s/tags/list" % repo, ("GET",))] == [404]
    uploads = destination.requests_since(before, r"^/v2/%s/blobs/uploads/.*digest=" % repo, ("PUT",))
    assert len(uploads) == len(image.blob_digests), "each blob sent once"
    assert client_for(destination).get_manifest(repo, "1.1").digest == image.digest


def test_a_new_tag_in_an_existing_repository_still_skips_the_blobs_it_holds(
        registry_factory, client_for, image_factory, unique_repo):
    source, destination = registry_factory(), registry_factory(count_requests=True)
    repo = unique_repo("known")
    base = image_factory.base_layers()
    old, new = image_factory.docker_image(base=base), image_factory.docker_image(base=base)
    old.push(client_for(source), repo, "1.0")
    new.push(client_for(source), repo, "2.0")
    args = {"registry": destination.host, "arch": [], "os": [], "tls_verify": False, "source_tls_verify": False}
    run_module("hangar_mirror", dict(args, images=["%s/%s:1.0" % (source.host, repo)]))
    before = destination.log_position()

    result = run_module("hangar_mirror", dict(args, images=["%s/%s:2.0" % (source.host, repo)]))

    assert result["images"][0]["status"] == "copied", result.get("msg")
    assert result["images"][0]["blobs_skipped"] == len(base)
    sent = destination.requests_since(before, r"^/v2/%s/blobs/uploads/.*digest=" % repo, ("PUT",))
    assert len(sent) == len(new.blob_digests) - len(base)


def test_a_mirror_into_a_token_registry_asks_one_token_for_many_repositories(
        registry, token_registry, client_for, image_factory, unique_repo):
    repos = [unique_repo("batch") for _number in range(18)]
    images = {repo: image_factory.docker_image(layer_sizes=(1024,)) for repo in repos}  # no blob shared: no mount
    for repo, image in images.items():
        image.push(client_for(registry), repo, "1.0")
    tokens = token_registry.token_server.token_requests
    args = {"images": ["%s/%s:1.0" % (registry.host, repo) for repo in repos], "registry": token_registry.host,
            "username": token_registry.username, "password": token_registry.password, "arch": [], "os": [],
            "tls_verify": False, "source_tls_verify": False}
    before = len(tokens)

    result = run_module("hangar_mirror", args)

    assert result["stats"]["copied"] == len(repos), result.get("msg")
    asked = [sorted(scope["name"] for scope in scopes) for _user, scopes in tokens[before:]]
    assert sorted(name for names in asked for name in names) == sorted(repos), "each repository in one token"
    assert len(asked) == 2, asked  # batches of 16
    assert {tuple(scope["actions"]) for _user, scopes in tokens[before:] for scope in scopes} == {("pull", "push")}
    for repo, image in images.items():
        assert client_for(token_registry).get_manifest(repo, "1.0").digest == image.digest


def test_a_save_rerun_of_a_single_platform_image_asks_the_source_for_its_manifest_only(
        registry_factory, client_for, image_factory, unique_repo, tmp_path):
    source = registry_factory(count_requests=True)
    repo = unique_repo()
    image_factory.image(platform="linux/arm/v7").push(client_for(source), repo, "v1")
    args = {"images": ["%s/%s:v1" % (source.host, repo)], "archive": str(tmp_path / "a.zip"), "arch": [], "os": [],
            "remove_signatures": True, "tls_verify": False}
    assert run_module("hangar_save", args)["changed"] is True
    before = source.log_position()

    rerun = run_module("hangar_save", args)

    assert rerun["changed"] is False, rerun.get("msg")
    assert [p["platform"] for p in rerun["images"][0]["platforms"]] == ["linux/arm/v7"]
    assert [(e.method, e.path) for e in source.requests_since(before, "^/v2/%s/" % repo)] == [
        ("GET", "/v2/%s/manifests/v1" % repo)]
