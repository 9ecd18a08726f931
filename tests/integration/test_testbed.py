"""The test bed itself: registries start and stop cleanly, tokens are accepted, requests are
counted, and the image factory makes valid, deterministic images."""

import gzip
import hashlib
import json
import os
import socket
import ssl

import pytest
import requests

from tests.support import skopeo
from tests.support.image_factory import ImageFactory, RandomBlob, schema1_payload
from tests.support.registry import RegistryServer
from tests.support.token_auth import TokenIssuer, TokenServer, libtrust_key_id


def _token(server, scope, password=None):
    return requests.get(server.token_server.realm, timeout=10,
                        params={"service": server.token_issuer.service, "scope": scope},
                        auth=(server.username, password or server.password))


def test_a_stopped_registry_leaves_no_process_and_no_files():
    server = RegistryServer(count_requests=True).start()
    process, root = server.process, server.root
    assert requests.get(server.url + "/v2/", timeout=10).status_code == 200

    server.stop()

    assert process.returncode is not None  # ended and reaped
    assert not os.path.exists(root)


def test_requests_are_counted_from_the_access_log(registry, unique_repo):
    repository = unique_repo()
    for _unused in range(3):
        requests.head("%s/v2/%s/blobs/sha256:%s" % (registry.url, repository, "0" * 64), timeout=10)

    assert registry.count_requests("HEAD", r"^/v2/%s/blobs/" % repository) == 3
    assert registry.count_requests("HEAD", r"^/v2/%s/blobs/" % repository, status=404) == 3
    assert registry.count_requests("GET", r"^/v2/%s/" % repository) == 0


@pytest.mark.parametrize(("key_kind", "header"), [("RSA", "x5c"), ("RSA", "kid"), ("EC", "x5c"), ("EC", "kid")])
def test_registry_accepts_our_tokens(key_kind, header, registry_factory, unique_repo):
    server = registry_factory(auth="token", token_issuer=TokenIssuer(key_kind=key_kind, header=header))
    repository = unique_repo()
    token = _token(server, "repository:%s:pull" % repository).json()["token"]

    answer = requests.get("%s/v2/%s/tags/list" % (server.url, repository), timeout=10,
                          headers={"Authorization": "Bearer " + token})

    assert answer.status_code == 404
    assert answer.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_registry_refuses_a_token_with_another_kid(registry_factory, unique_repo):
    issuer = TokenIssuer(header="kid")
    issuer.key_id = libtrust_key_id(TokenIssuer(key_kind="EC").certificate.public_key())
    server = registry_factory(auth="token", token_issuer=issuer)
    repository = unique_repo()
    token = _token(server, "repository:%s:pull" % repository).json()["token"]

    answer = requests.get("%s/v2/%s/tags/list" % (server.url, repository), timeout=10,
                          headers={"Authorization": "Bearer " + token})

    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_token_server_checks_credentials_and_asks_authorize(token_registry, unique_repo):
    repository = unique_repo("a/b")
    assert _token(token_registry, "repository:%s:pull" % repository, password="wrong").status_code == 401

    answer = _token(token_registry, "repository:%s:pull,push" % repository)

    assert answer.status_code == 200
    body = answer.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] > 0
    assert token_registry.token_server.token_requests[-1] == (
        token_registry.username, [{"type": "repository", "name": repository, "actions": ["pull", "push"]}])


def test_token_server_turns_away_a_tls_handshake_at_once():
    with TokenServer(TokenIssuer(key_kind="EC"), {"user": "password"}) as server:
        context = ssl.create_default_context()
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection, \
                pytest.raises(ssl.SSLError):
            context.wrap_socket(connection, server_hostname="127.0.0.1")


def test_tls_registry_is_trusted_with_its_ca_only(tls_registry):
    assert requests.get(tls_registry.url + "/v2/", verify=tls_registry.ca_cert, timeout=10).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_registry.url + "/v2/", timeout=10)
    assert os.listdir(tls_registry.cert_dir) == ["ca.crt"]


def test_factory_is_deterministic_per_seed():
    def digests(seed):
        factory = ImageFactory(seed)
        return [factory.oci_index().digest, factory.docker_manifest_list().digest, factory.schema1_image().digest]

    assert digests("one") == digests("one")
    assert set(digests("one")).isdisjoint(digests("two"))


def test_factory_configs_describe_their_layers():
    image = ImageFactory("configs").docker_manifest_list(platforms=("linux/arm/v7", "linux/arm64/v8"))

    for child, platform in zip(image.children, image.platforms):
        config = json.loads(image.blobs[child.config["digest"]])
        assert (config["os"], config["architecture"], config["variant"]) == (
            platform.os, platform.architecture, platform.variant)
        diff_ids = ["sha256:" + hashlib.sha256(gzip.decompress(image.blobs[layer["digest"]])).hexdigest()
                    for layer in child.layers]
        assert config["rootfs"]["diff_ids"] == diff_ids
        assert [layer["size"] for layer in child.layers] == [len(image.blobs[layer["digest"]])
                                                             for layer in child.layers]


def test_factory_streamed_layers_are_not_held_in_memory():
    image = ImageFactory("big").docker_image(layer_sizes=(3 * 1024 * 1024 + 5,), streamed_layers=True)
    (layer,) = image.top.layers
    blob = image.streamed_blobs[layer["digest"]]

    assert layer["digest"] not in image.blobs
    assert sum(len(chunk) for chunk in blob.chunks()) == layer["size"]
    assert RandomBlob(blob.seed, blob.size).digest == layer["digest"]
    config = json.loads(image.blobs[image.top.config["digest"]])
    assert config["rootfs"]["diff_ids"] == [layer["digest"]]


def test_factory_schema1_signature_covers_its_payload():
    image = ImageFactory("schema1").schema1_image(signed=True)
    payload = schema1_payload(image.data)

    assert image.digest == "sha256:" + hashlib.sha256(payload).hexdigest()
    assert "signatures" not in json.loads(payload)
    assert json.loads(image.data)["fsLayers"] == json.loads(payload)["fsLayers"]


def test_skopeo_failures_carry_its_message(registry, unique_repo):
    with pytest.raises(skopeo.SkopeoError, match="manifest unknown"):
        skopeo.inspect_raw("%s:missing" % unique_repo(), registry)


def test_factory_can_leave_platform_fields_to_the_configs():
    image = ImageFactory("windows").windows_list(omit_from_entries=("os.version",))

    windows_entries = [entry for entry in image.top.children if entry["platform"]["os"] == "windows"]
    assert len(windows_entries) == 2
    assert all("os.version" not in entry["platform"] for entry in windows_entries)
    configs = [json.loads(image.blobs[child.config["digest"]]) for child in image.children]
    assert sorted(config.get("os.version", "") for config in configs) == ["", "10.0.17763.5329", "10.0.20348.2227"]
