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
