"""RegistryClient against real docker-registry processes, and against small in-process HTTP servers
for what a real registry will not do (lie about digests, paginate tags, redirect, fail on purpose).

The real registries are the shared session fixtures of tests/support (plain, htpasswd, token, TLS).
"""

import base64
import hashlib
import io
import json
import os
import re
import threading
from dataclasses import dataclass

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import (
    AuthenticationError,
    DigestMismatchError,
    NotFoundError,
    RegistryError,
    TLSError,
    UnsupportedMediaTypeError,
)
from ansible_collections.airgap.hangar.plugins.module_utils._image.digest import sha256_digest
from ansible_collections.airgap.hangar.plugins.module_utils._image.media_types import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
)
from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.airgap.hangar.plugins.module_utils._registry.retry import RetryPolicy
from tests.support import skopeo
from tests.support.image_factory import RandomBlob
from tests.support.token_auth import LoopbackHTTPServer, PlainHTTPHandler

MiB = 1024 * 1024
FAST_RETRY = RetryPolicy(attempts=5, base_delay=0.001, max_delay=0.005)


def make_image(seed):
    """A small random OCI image: (config, [layer1, layer2], manifest bytes)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed,
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layers = [hashlib.shake_256(("%s:%d" % (seed, n)).encode()).digest(200_000 + n) for n in range(2)]
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": sha256_digest(layer), "size": len(layer)} for layer in layers],
    }, indent=3).encode()
    return config, layers, manifest


def chunks_of(data, size=65536):
    for offset in range(0, len(data), size):
        yield data[offset:offset + size]


def push_image(client, repo, tag, seed):
    config, layers, manifest = make_image(seed)
    client.push_blob(repo, sha256_digest(config), len(config), config)
    client.push_blob(repo, sha256_digest(layers[0]), len(layers[0]), io.BytesIO(layers[0]))
    client.push_blob(repo, sha256_digest(layers[1]), len(layers[1]), chunks_of(layers[1]))
    return client.put_manifest(repo, tag, manifest, OCI_MANIFEST), manifest


# ---- in-process HTTP servers

@dataclass
class Seen:
    method: str
    path: str
    headers: dict
    body: bytes


class _ScriptedHandler(PlainHTTPHandler):
    def _serve(self):
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with owner.lock:
            owner.seen.append(seen)
        status, headers, payload = owner.respond(seen)
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve


class ScriptedServer(LoopbackHTTPServer):
    """respond(seen) -> (status, headers, body bytes); every request is kept in .seen."""

    def __init__(self, respond):
        super().__init__(_ScriptedHandler)
        self.respond = respond
        self.seen = []
        self.lock = threading.Lock()

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    def requests_to(self, method, path_regex):
        return [seen for seen in self.seen if seen.method == method and re.search(path_regex, seen.path)]


def json_body(document):
    return json.dumps(document).encode()


def registry_error(status, code, message, detail=None):
    error = {"code": code, "message": message}
    if detail is not None:
        error["detail"] = detail
    return status, {}, json_body({"errors": [error]})


@pytest.fixture
def scripted():
    """scripted(respond) -> a started ScriptedServer, stopped after the test."""
    servers = []

    def start(respond):
        server = ScriptedServer(respond).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def client_of():
    """client_of(host, **options) -> a RegistryClient with fast retries (tls_verify off), closed after."""
    clients = []

    def make(host, **options):
        client = RegistryClient(host, **dict({"tls_verify": False, "retry": FAST_RETRY}, **options))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def free_port():
    with LoopbackHTTPServer(PlainHTTPHandler) as probe:
        return probe.port


# ---- real registry: content round trip

def test_push_and_read_back_an_oci_image(registry, client_for, unique_repo):
    client = client_for(registry)
    repo = unique_repo()
    digest, manifest = push_image(client, repo, "1.0", "round-trip")
    assert digest == sha256_digest(manifest)

    by_tag = client.get_manifest(repo, "1.0")
    by_digest = client.get_manifest(repo, digest)
    assert by_tag.data == by_digest.data == manifest
    assert by_tag.digest == by_digest.digest == digest
    assert by_tag.media_type == OCI_MANIFEST
    assert client.head_manifest(repo, "1.0") == {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest)}
    assert skopeo.inspect_raw("%s:1.0" % repo, registry) == manifest

    config, layers, _unused = make_image("round-trip")
    assert client.get_blob(repo, sha256_digest(config)) == config
    with client.open_blob(repo, sha256_digest(layers[1]), len(layers[1])) as reader:
        assert b"".join(reader) == layers[1]
        assert reader.verified
    assert client.list_tags(repo) == ["1.0"]
    assert repo in client.catalog()
    stats = client.stats.as_dict()
    assert stats["blobs_uploaded"] == 3 and stats["retries"] == 0
    assert stats["bytes_sent"] == len(config) + sum(map(len, layers)) + len(manifest)


def test_chunked_upload_of_a_64_mib_blob(registry, client_for, unique_repo):
    client = client_for(registry)
    repo = unique_repo()
    blob = RandomBlob("chunked-64", 64 * MiB)
    client.push_blob(repo, blob.digest, blob.size, blob.chunks(), chunk_size=16 * MiB)
    assert registry.count_requests("PATCH", r"^/v2/%s/blobs/uploads/" % re.escape(repo)) == 4
    assert registry.count_requests("PUT", r"^/v2/%s/blobs/uploads/" % re.escape(repo), status=201) == 1
    hasher = hashlib.sha256()
    with client.open_blob(repo, blob.digest, blob.size) as reader:
        for chunk in reader:
            hasher.update(chunk)
    assert "sha256:" + hasher.hexdigest() == blob.digest
    assert client.stats.bytes_sent == client.stats.bytes_received == 64 * MiB


def test_monolithic_upload_of_unknown_size(registry, client_for, unique_repo):
    client = client_for(registry)
    repo = unique_repo()
    data = os.urandom(3 * MiB + 5)
    client.push_blob(repo, sha256_digest(data), None, chunks_of(data, MiB), chunk_size=MiB)
    assert client.get_blob(repo, sha256_digest(data)) == data


def test_empty_blob(registry, client_for, unique_repo):
    client = client_for(registry)
    repo = unique_repo()
    client.push_blob(repo, sha256_digest(b""), 0, b"")
    assert client.blob_exists(repo, sha256_digest(b""))
    assert client.get_blob(repo, sha256_digest(b"")) == b""


@pytest.mark.parametrize("chunk_size", [None, 64 * 1024])
def test_a_lying_source_is_never_committed(registry, client_for, unique_repo, chunk_size):
    client = client_for(registry)
    repo = unique_repo()
    announced = os.urandom(300_000)
    served = announced[:-1] + bytes([announced[-1] ^ 1])
    with pytest.raises(DigestMismatchError):
        client.push_blob(repo, sha256_digest(announced), len(announced), io.BytesIO(served), chunk_size=chunk_size)
    assert not client.blob_exists(repo, sha256_digest(announced))
    assert not client.blob_exists(repo, sha256_digest(served))
    too_long = announced + b"x"
    with pytest.raises(DigestMismatchError):
        client.push_blob(repo, sha256_digest(announced), len(announced), io.BytesIO(too_long), chunk_size=chunk_size)
    assert not client.blob_exists(repo, sha256_digest(announced))


def test_mount_between_repositories(registry, client_for, unique_repo):
    client = client_for(registry)
    source, target, other = unique_repo(), unique_repo(), unique_repo()
    data = os.urandom(10_000)
    digest = sha256_digest(data)
    client.push_blob(source, digest, len(data), data)
    assert client.mount_blob(target, digest, source) is True
    assert client.blob_exists(target, digest)
    assert client.mount_blob(other, digest, unique_repo()) is False
    assert not client.blob_exists(other, digest)
    assert client.stats.blobs_mounted == 1
    # The upload session the registry opened instead of mounting was deleted.
    assert registry.count_requests("DELETE", r"^/v2/%s/blobs/uploads/" % re.escape(other), status=204) == 1


def test_missing_content(registry, client_for, unique_repo):
    client = client_for(registry)
    repo = unique_repo()
    missing = sha256_digest(b"missing")
    assert client.head_manifest(repo, "nope") is None
    assert client.head_manifest(repo, missing) is None
    assert client.blob_exists(repo, missing) is False
    with pytest.raises(NotFoundError) as caught:
        client.get_manifest(repo, "1.25")
    assert str(caught.value) == "Error fetching manifest %s/%s:1.25: MANIFEST_UNKNOWN manifest unknown (HTTP 404)" \
        % (registry.host, repo)
    assert (caught.value.status, caught.value.code, caught.value.registry) == (404, "MANIFEST_UNKNOWN", registry.host)
    with pytest.raises(NotFoundError, match="BLOB_UNKNOWN"):
        client.get_blob(repo, missing)
    with pytest.raises(NotFoundError, match="NAME_UNKNOWN"):
        client.list_tags(repo)


def test_delete_manifest(registry, client_for, unique_repo):
    client = client_for(registry)
    repo = unique_repo()
    digest, _unused = push_image(client, repo, "gone", "delete")
    client.delete_manifest(repo, digest)
    assert client.head_manifest(repo, "gone") is None


def test_manifest_with_missing_blobs_fails_with_the_registrys_message(registry, client_for, unique_repo):
    client = client_for(registry)
    repo = unique_repo()
    _unused, _unused, manifest = make_image("missing-blobs")
    with pytest.raises(RegistryError) as caught:
        client.put_manifest(repo, "1", manifest, OCI_MANIFEST)
    assert caught.value.status == 400 and caught.value.code == "MANIFEST_BLOB_UNKNOWN"
    assert "MANIFEST_BLOB_UNKNOWN blob unknown to registry: sha256:" in str(caught.value)


def test_refused_foreign_layer_is_not_retried(registry_factory, client_for, unique_repo):
    server = registry_factory(count_requests=True)  # Distribution defaults: foreign layers refused with a 500
    client = client_for(server, retry=FAST_RETRY)
    repo = unique_repo()
    config = b'{"architecture":"amd64","os":"linux"}'
    client.push_blob(repo, sha256_digest(config), len(config), config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
                           "layers": [{"mediaType": OCI_LAYER, "digest": sha256_digest(b"foreign"), "size": 7,
                                       "urls": ["http://127.0.0.1:9/foreign.tar.gz"]}]}).encode()
    with pytest.raises(RegistryError) as caught:
        client.put_manifest(repo, "1", manifest, OCI_MANIFEST)
    assert caught.value.status == 500
    assert "MANIFEST_BLOB_UNKNOWN blob unknown to registry" in str(caught.value)
    assert server.count_requests("PUT", r"/manifests/") == 1
    assert client.stats.retries == 0


def test_clients_are_thread_safe(token_registry, client_for, unique_repo):
    client = client_for(token_registry)
    repos = [unique_repo() for _unused in range(20)]
    blobs = [os.urandom(50_000) for _unused in range(20)]
    failures = []

    def transfer(repo, data):
        try:
            client.push_blob(repo, sha256_digest(data), len(data), data)
            assert client.get_blob(repo, sha256_digest(data)) == data
            assert client.blob_exists(repo, sha256_digest(data))
        except Exception as exc:  # collected: an assertion in a thread would be lost
            failures.append(exc)

    threads = [threading.Thread(target=transfer, args=pair) for pair in zip(repos, blobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert client.stats.blobs_uploaded == 20
    for repo in repos:  # one pull,push token per repository, reused for the pulls
        asked = [scopes for _unused, scopes in token_registry.token_server.token_requests
                 if any(scope["name"] == repo for scope in scopes)]
        assert asked == [[{"type": "repository", "name": repo, "actions": ["pull", "push"]}]]


# ---- real registry: authentication and TLS

def test_basic_auth(basic_registry, client_for, unique_repo):
    repo = unique_repo()
    digest, manifest = push_image(client_for(basic_registry), repo, "1", "basic")
    assert client_for(basic_registry).get_manifest(repo, digest).data == manifest


def test_basic_auth_with_a_wrong_password(basic_registry, client_for, unique_repo):
    password = "wrong-Pa55word"
    client = client_for(basic_registry, password=password)
    with pytest.raises(AuthenticationError) as caught:
        client.get_manifest(unique_repo(), "1")
    assert caught.value.status == 401 and caught.value.code == "UNAUTHORIZED"
    encoded = base64.b64encode(("%s:%s" % (basic_registry.username, password)).encode()).decode()
    for text in (str(caught.value), repr(client), repr(client.stats)):
        assert password not in text and encoded not in text


def test_basic_auth_without_credentials(basic_registry, client_for, unique_repo, tmp_path):
    empty = tmp_path / "auth.json"
    empty.write_text("{}")
    client = client_for(basic_registry, username=None, password=None, auth_file=str(empty))
    with pytest.raises(AuthenticationError, match="no credentials found for %s" % re.escape(basic_registry.host)):
        client.list_tags(unique_repo())


def test_credentials_from_an_auth_file(basic_registry, client_for, unique_repo, tmp_path):
    auth = base64.b64encode(("%s:%s" % (basic_registry.username, basic_registry.password)).encode()).decode()
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {"http://" + basic_registry.host: {"auth": auth}}}))
    client = client_for(basic_registry, username=None, password=None, auth_file=str(path))
    repo = unique_repo()
    push_image(client, repo, "1", "auth-file")
    assert client.list_tags(repo) == ["1"]


def test_bearer_tokens(token_registry, client_for, unique_repo):
    client = client_for(token_registry)
    repo = unique_repo()
    digest, manifest = push_image(client, repo, "1", "bearer")
    assert client.get_manifest(repo, "1").data == manifest
    assert client.head_manifest(repo, digest)["digest"] == digest
    assert repo in client.catalog()
    asked = [scopes for _unused, scopes in token_registry.token_server.token_requests
             if any(scope["name"] == repo for scope in scopes)]
    assert asked == [[{"type": "repository", "name": repo, "actions": ["pull", "push"]}]]


def test_bearer_with_a_wrong_password(token_registry, client_for, unique_repo):
    client = client_for(token_registry, password="not-the-password")
    with pytest.raises(AuthenticationError) as caught:
        client.get_manifest(unique_repo(), "1")
    assert "the token server refused the credentials of %s (HTTP 401)" % token_registry.username in str(caught.value)
    assert "not-the-password" not in str(caught.value)


def test_tls_with_the_registrys_ca(tls_registry, client_for, unique_repo):
    client = client_for(tls_registry)
    repo = unique_repo()
    digest, manifest = push_image(client, repo, "1", "tls")
    assert client.get_manifest(repo, digest).data == manifest
    assert client_for(tls_registry, ca_path=None, tls_verify=False).get_manifest(repo, "1").data == manifest


def test_tls_verification_failure_suggests_a_fix(tls_registry, client_for):
    client = client_for(tls_registry, ca_path=None)
    with pytest.raises(TLSError) as caught:
        client.ping()
    assert "TLS verification failed for %s" % tls_registry.host in str(caught.value)
    assert str(caught.value).endswith("set ca_path to the registry's CA, or tls_verify: false for a self-signed "
                                      "registry")


def test_plain_http_needs_tls_verify_false(registry, client_for):
    with pytest.raises(TLSError, match="did not answer TLS .*set tls_verify: false for a plain-HTTP registry"):
        client_for(registry, tls_verify=True).ping()


# ---- in-process servers: what a real registry will not do

def test_a_blob_that_does_not_match_its_digest(scripted, client_of):
    expected = os.urandom(3000)
    digest = sha256_digest(expected)
    server = scripted(lambda seen: (200, {"Content-Type": "application/octet-stream"}, b"not the blob")
                      if "/blobs/" in seen.path else (200, {}, b"{}"))
    client = client_of(server.host)
    with pytest.raises(DigestMismatchError, match="expected %s" % digest):
        client.get_blob("team/app", digest)
    with client.open_blob("team/app", digest) as reader, pytest.raises(DigestMismatchError):
        reader.read_all_verified()


def test_manifest_digests_are_checked(scripted, client_of):
    _unused, _unused, manifest = make_image("fake")
    other = sha256_digest(b"other")

    def respond(seen):
        if seen.path.endswith("/manifests/wrong-header"):
            return 200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": other}, manifest
        if "/manifests/" in seen.path:
            return 200, {"Content-Type": OCI_MANIFEST}, manifest
        return 200, {}, b"{}"

    client = client_of(scripted(respond).host)
    assert client.get_manifest("team/app", "no-header").data == manifest
    with pytest.raises(DigestMismatchError, match="expected %s" % other):
        client.get_manifest("team/app", "wrong-header")
    with pytest.raises(DigestMismatchError, match="expected %s" % other):
        client.get_manifest("team/app", other)


def test_unsupported_manifest_types_are_refused(scripted, client_of):
    unknown = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.example.unknown+json"}).encode()
    server = scripted(lambda seen: (200, {"Content-Type": "application/vnd.example.unknown+json"}, unknown)
                      if "/manifests/" in seen.path else (200, {}, b"{}"))
    with pytest.raises(UnsupportedMediaTypeError, match='unsupported MIME type "application/vnd.example.unknown'):
        client_of(server.host).get_manifest("team/app", "1")


def test_cookies_are_never_kept(scripted, client_of):
    server = scripted(lambda seen: (200, {"Set-Cookie": "session=abc; Path=/"}, json_body({"tags": ["1"]})))
    client = client_of(server.host)
    client.list_tags("team/app")
    client.list_tags("team/app")
    assert [seen.headers.get("cookie") for seen in server.seen] == [None] * len(server.seen)


def test_tags_and_catalog_follow_link_pagination(scripted, client_of):
    pages = {
        "/v2/team/app/tags/list": (["a", "b"], "</v2/team/app/tags/list?last=b&n=2>; rel=\"next\""),
        "/v2/team/app/tags/list?last=b&n=2": (["c", "d"], "</v2/team/app/tags/list?last=d&n=2>; rel=\"next\""),
        "/v2/team/app/tags/list?last=d&n=2": (["e"], None),
        "/v2/_catalog": (["r1", "r2"], "</v2/_catalog?last=r2&n=2>; rel=\"next\""),
        "/v2/_catalog?last=r2&n=2": (["r3"], None),
    }

    def respond(seen):
        if seen.path == "/v2/":
            return 200, {}, b"{}"
        items, link = pages[seen.path]
        key = "repositories" if seen.path.startswith("/v2/_catalog") else "tags"
        return 200, {"Link": link} if link else {}, json_body({key: items})

    client = client_of(scripted(respond).host)
    assert client.list_tags("team/app") == ["a", "b", "c", "d", "e"]
    assert client.catalog() == ["r1", "r2", "r3"]


def test_retries_are_counted_and_logged_without_secrets(scripted, client_of):
    _unused, _unused, manifest = make_image("retry")
    password = "Sup3r-secret"
    expected_auth = "Basic " + base64.b64encode(("alice:" + password).encode()).decode()
    failures = []

    def respond(seen):
        if seen.headers.get("authorization") != expected_auth:
            return 401, {"WWW-Authenticate": 'Basic realm="fake"'}, json_body(
                {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})
        if "/manifests/" in seen.path and len(failures) < 2:
            failures.append(seen)
            return 503, {"Retry-After": "0"}, json_body({"errors": [{"code": "UNAVAILABLE", "message": "busy"}]})
        return 200, {"Content-Type": OCI_MANIFEST}, manifest

    lines = []
    client = client_of(scripted(respond).host, username="alice", password=password, log=lines.append)
    assert client.get_manifest("team/app", "1").data == manifest
    assert client.stats.retries == 2
    assert lines == ["Retrying GET /v2/team/app/manifests/1 after HTTP 503 (attempt %d of 5 failed; next in 0.0s)" % n
                     for n in (1, 2)]
    for line in lines:
        assert password not in line and expected_auth.split()[1] not in line


def test_bearer_token_is_refreshed_on_401(scripted, client_of):
    issued = []

    def respond(seen):
        if seen.path.startswith("/token"):
            issued.append(seen)
            # Docker Hub style: access_token only, with its lifetime.
            return 200, {}, json_body({"access_token": "tok-%d" % len(issued), "expires_in": 300})
        if seen.headers.get("authorization") != "Bearer tok-2":  # the first token is "revoked"
            return 401, {"WWW-Authenticate": 'Bearer realm="http://%s/token",service="fake"' % server.host}, \
                json_body({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})
        return 200, {}, json_body({"name": "team/app", "tags": ["1"]})

    server = scripted(respond)
    client = client_of(server.host, username="alice", password="pw")
    assert client.list_tags("team/app") == ["1"]
    token_request = "/token?account=alice&scope=repository%3Ateam%2Fapp%3Apull&service=fake"
    assert [seen.path for seen in issued] == [token_request] * 2
    assert all(seen.headers["authorization"] == "Basic " + base64.b64encode(b"alice:pw").decode() for seen in issued)


def test_redirects_do_not_carry_authorization_to_another_host(scripted, client_of):
    data = os.urandom(5000)
    digest = sha256_digest(data)
    storage = scripted(lambda seen: (200, {"Content-Type": "application/octet-stream"}, data))
    expected_auth = "Basic " + base64.b64encode(b"alice:pw").decode()

    def respond(seen):
        if seen.headers.get("authorization") != expected_auth:
            return 401, {"WWW-Authenticate": 'Basic realm="fake"'}, b"{}"
        if seen.path.endswith("/blobs/" + digest):
            return 307, {"Location": "/same-host/" + digest}, b""
        if seen.path.startswith("/same-host/"):
            return 307, {"Location": "http://%s/storage/%s?sig=x" % (storage.host, digest)}, b""
        return 200, {}, b"{}"

    registry = scripted(respond)
    client = client_of(registry.host, username="alice", password="pw")
    assert client.get_blob("team/app", digest) == data
    assert registry.requests_to("GET", "^/same-host/")[0].headers["authorization"] == expected_auth
    assert [seen.path for seen in storage.seen] == ["/storage/%s?sig=x" % digest]
    assert "authorization" not in storage.seen[0].headers


def test_an_html_answer_is_not_a_registry(scripted, client_of):
    server = scripted(lambda seen: (200, {"Content-Type": "text/html; charset=utf-8"}, b"<html>Welcome</html>"))
    with pytest.raises(RegistryError, match="%s does not look like a registry" % server.host):
        client_of(server.host).get_manifest("team/app", "1")


def test_an_unreachable_registry(client_of):
    port = free_port()
    lines = []
    client = client_of("127.0.0.1:%d" % port, tls_verify=True, log=lines.append)
    with pytest.raises(RegistryError) as caught:
        client.get_manifest("team/app", "1")
    assert str(caught.value) == "Error fetching manifest 127.0.0.1:%d/team/app:1: cannot reach 127.0.0.1:%d: " \
        "Connection refused" % (port, port)
    assert caught.value.status is None and caught.value.registry == "127.0.0.1:%d" % port
    assert client.stats.retries == 4 and len(lines) == 4
    # tls_verify: false falls back to plain HTTP only when the server answered plain HTTP (issue 11).
    with pytest.raises(RegistryError, match=r"cannot reach 127\.0\.0\.1:%d over HTTPS \(Connection refused\); not "
                                            r"trying plain HTTP" % port):
        client_of("127.0.0.1:%d" % port).ping()


def upload_server(scripted, put_failures):
    """A registry whose blob PUT fails with a 503 `put_failures` times."""
    failed = []

    def respond(seen):
        if seen.method == "POST":
            return 202, {"Location": "/v2/team/app/blobs/uploads/session?_state=s"}, b""
        if seen.method == "PUT":
            if len(failed) < put_failures:
                failed.append(seen)
                return 503, {}, json_body({"errors": [{"code": "UNAVAILABLE", "message": "busy"}]})
            return 201, {"Docker-Content-Digest": seen.path.split("digest=")[1].replace("%3A", ":")}, b""
        return (204, {}, b"") if seen.method == "DELETE" else (200, {}, b"{}")

    return scripted(respond)


def test_an_upload_is_retried_from_a_fresh_session_when_it_can_be_reopened(scripted, client_of):
    data = os.urandom(100_000)
    server = upload_server(scripted, put_failures=2)
    client = client_of(server.host)
    opened = []

    def reopen():
        opened.append(1)
        return io.BytesIO(data)

    client.push_blob("team/app", sha256_digest(data), len(data), io.BytesIO(data), reopen=reopen)
    assert len(opened) == 2 and client.stats.retries == 2
    assert len(server.requests_to("POST", "/blobs/uploads/")) == 3
    assert [seen.body for seen in server.requests_to("PUT", "/blobs/uploads/")] == [data] * 3


def test_an_upload_that_cannot_be_reopened_fails_once(scripted, client_of):
    data = os.urandom(100_000)
    server = upload_server(scripted, put_failures=1)
    client = client_of(server.host)
    with pytest.raises(RegistryError, match="Error pushing blob .*: UNAVAILABLE busy \\(HTTP 503\\)"):
        client.push_blob("team/app", sha256_digest(data), len(data), chunks_of(data))
    assert len(server.requests_to("PUT", "/blobs/uploads/")) == 1
    assert len(server.requests_to("DELETE", "/blobs/uploads/")) == 1  # the failed session is cancelled


def test_bytes_are_reopened_by_themselves(scripted, client_of):
    data = os.urandom(1000)
    server = upload_server(scripted, put_failures=1)
    client_of(server.host).push_blob("team/app", sha256_digest(data), len(data), data)
    assert len(server.requests_to("PUT", "/blobs/uploads/")) == 2
