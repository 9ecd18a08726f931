"""The registry client against real registries: every image kind round-trips with its digests,
as skopeo independently sees them, over plain HTTP, Basic auth, Bearer tokens and TLS."""

import hashlib
import io

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import AuthenticationError, TLSError
from ansible_collections.airgap.hangar.plugins.module_utils._image.media_types import DOCKER_MANIFEST_V1_SIGNED
from tests.support import skopeo
from tests.support.image_factory import MiB, RandomBlob, schema1_payload

REGISTRY_VARIANTS = ["registry", "basic_registry", "token_registry", "tls_registry"]

IMAGE_KINDS = {
    "docker-image": lambda factory: factory.docker_image(),
    "oci-image": lambda factory: factory.oci_image(),
    "docker-manifest-list": lambda factory: factory.docker_manifest_list(),
    "oci-index-with-attestations": lambda factory: factory.oci_index(attestations=True),
    "foreign-layer": lambda factory: factory.foreign_layer_image(),
    "helm-chart": lambda factory: factory.helm_chart(),
    "windows-list": lambda factory: factory.windows_list(),
}


@pytest.fixture(params=REGISTRY_VARIANTS)
def any_registry(request):
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("kind", sorted(IMAGE_KINDS))
def test_image_round_trips_byte_for_byte(kind, any_registry, client_for, image_factory, unique_repo):
    image = IMAGE_KINDS[kind](image_factory)
    client = client_for(any_registry)
    repository = unique_repo("team/sub")  # a name with several slashes

    assert image.push(client, repository, "v1") == image.digest

    assert skopeo.inspect_raw("%s:v1" % repository, any_registry) == image.data
    for child in image.children:
        assert skopeo.inspect_raw("%s@%s" % (repository, child.digest), any_registry) == child.data
    fetched = client.get_manifest(repository, "v1")
    assert (fetched.data, fetched.digest, fetched.media_type) == (image.data, image.digest, image.media_type)
    assert client.head_manifest(repository, "v1") == {
        "mediaType": image.media_type, "digest": image.digest, "size": len(image.data)}
    for child in image.children:
        assert client.get_manifest(repository, child.digest).data == child.data
    for digest, data in image.blobs.items():
        assert client.get_blob(repository, digest) == data
    for digest in image.foreign_blobs:
        assert not client.blob_exists(repository, digest)
    assert client.list_tags(repository) == ["v1"]


def test_signed_schema1_keeps_its_digest(any_registry, client_for, image_factory, unique_repo):
    # Distribution re-signs schema 1 manifests on every GET: only the payload and digest are stable.
    repository = unique_repo()
    image = image_factory.schema1_image(signed=True, name=repository, tag="v1")
    client = client_for(any_registry)

    assert image.push(client, repository, "v1") == image.digest

    served = skopeo.inspect_raw("%s:v1" % repository, any_registry)
    assert schema1_payload(served) == schema1_payload(image.data)
    fetched = client.get_manifest(repository, "v1")
    assert fetched.media_type == DOCKER_MANIFEST_V1_SIGNED
    assert schema1_payload(fetched.data) == schema1_payload(image.data)
    assert client.head_manifest(repository, "v1")["digest"] == image.digest


def test_skopeo_copy_of_a_pushed_index_keeps_every_digest(registry, client_for, image_factory, unique_repo):
    image = image_factory.oci_index(attestations=True)
    source, copy = unique_repo(), unique_repo()
    image.push(client_for(registry), source, "v1")

    skopeo.copy("%s:v1" % source, "%s:v1" % copy, src_registry=registry, dst_registry=registry)

    assert skopeo.inspect_raw("%s:v1" % copy, registry) == image.data
    fetched = client_for(registry).get_manifest(copy, "v1")
    assert [child["digest"] for child in fetched.children] == [child.digest for child in image.children]


def test_mount_takes_shared_base_layers_from_another_repository(any_registry, client_for, image_factory,
                                                                unique_repo):
    base = image_factory.base_layers()
    first = image_factory.docker_image(base=base)
    second = image_factory.docker_image("linux/arm64/v8", base=base)
    client = client_for(any_registry)
    first_repo, second_repo = unique_repo(), unique_repo()
    first.push(client, first_repo, "v1")

    for layer in base:
        assert client.mount_blob(second_repo, layer.digest, first_repo) is True
        assert client.blob_exists(second_repo, layer.digest)
    second.push(client, second_repo, "v1")

    uploads = any_registry.count_requests("PUT", r"^/v2/%s/blobs/uploads/" % second_repo, status=201)
    assert uploads == len(second.blobs) - len(base)
    assert skopeo.inspect_raw("%s:v1" % second_repo, any_registry) == second.data
    assert client.stats.blobs_mounted >= len(base)


def test_mount_from_a_missing_repository_is_refused(registry, client_for, image_factory, unique_repo):
    layer = image_factory.layer()
    client = client_for(registry)
    holder, target = unique_repo(), unique_repo()
    client.push_blob(holder, layer.digest, layer.size, io.BytesIO(layer.data))

    assert client.mount_blob(target, layer.digest, unique_repo("missing")) is False
    assert not client.blob_exists(target, layer.digest)


def test_big_blob_is_uploaded_in_chunks_from_a_stream(any_registry, client_for, unique_repo):
    blob = RandomBlob(unique_repo("seed"), 64 * MiB)
    client = client_for(any_registry)
    repository = unique_repo()

    client.push_blob(repository, blob.digest, blob.size, blob.chunks(), chunk_size=16 * MiB)

    assert any_registry.count_requests("PATCH", r"^/v2/%s/blobs/uploads/" % repository, status=202) >= 2
    hasher, size = hashlib.sha256(), 0
    with client.open_blob(repository, blob.digest, blob.size) as reader:
        for chunk in iter(lambda: reader.read(MiB), b""):
            hasher.update(chunk)
            size += len(chunk)
    assert ("sha256:" + hasher.hexdigest(), size) == (blob.digest, blob.size)


@pytest.mark.parametrize("variant", ["basic_registry", "token_registry"])
def test_wrong_password_is_an_authentication_error(variant, request, client_for, unique_repo):
    server = request.getfixturevalue(variant)
    client = client_for(server, password="wrong-" + server.password)

    with pytest.raises(AuthenticationError):
        client.get_manifest(unique_repo(), "v1")


@pytest.mark.parametrize("variant", ["basic_registry", "token_registry"])
def test_missing_credentials_are_an_authentication_error(variant, request, client_for, unique_repo):
    client = client_for(request.getfixturevalue(variant), username=None, password=None)

    with pytest.raises(AuthenticationError):
        client.put_manifest(unique_repo(), "v1", b"{}", "application/vnd.oci.image.manifest.v1+json")


def test_token_without_push_access_is_an_authentication_error(registry_factory, client_for, image_factory,
                                                              unique_repo):
    def pull_only(user, scope):
        return [action for action in scope["actions"] if action == "pull"] if user else []

    server = registry_factory(auth="token", token_authorize=pull_only)
    client = client_for(server)

    with pytest.raises(AuthenticationError):
        image_factory.docker_image().push(client, unique_repo(), "v1")


def test_tls_verification_fails_without_the_ca(tls_registry, client_for):
    client = client_for(tls_registry, ca_path=None, tls_verify=True)

    with pytest.raises(TLSError) as failure:
        client.ping()
    message = str(failure.value)
    assert message.startswith("Error ") and ": TLS verification failed for %s (" % tls_registry.host in message, message
    assert message.endswith("); set ca_path to the registry's CA, or tls_verify: false for a self-signed registry")


def test_tls_verification_succeeds_with_the_ca(tls_registry, client_for, image_factory, unique_repo):
    image = image_factory.docker_image()
    repository = unique_repo()
    client = client_for(tls_registry, ca_path=tls_registry.ca_cert, tls_verify=True)

    client.ping()
    image.push(client, repository, "v1")
    assert client.get_manifest(repository, "v1").data == image.data


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_verify_false_accepts_a_self_signed_registry(tls_registry, client_for, image_factory, unique_repo):
    image = image_factory.oci_image()
    repository = unique_repo()
    client = client_for(tls_registry, ca_path=None, tls_verify=False)

    image.push(client, repository, "v1")
    assert skopeo.inspect_raw("%s:v1" % repository, tls_registry) == image.data
