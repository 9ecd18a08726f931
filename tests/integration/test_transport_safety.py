"""Credentials never go where the registry did not ask for them (issue 11): a redirect target's 401 challenge
is not answered with the registry's credentials; tls_verify: false falls back to plain HTTP only when the
server answered the TLS handshake in plain HTTP, never after a timeout or a refused connection."""

import base64
import socket
import threading

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._copy.model import Deadline
from ansible_collections.airgap.hangar.plugins.module_utils._errors import RegistryError
from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.airgap.hangar.plugins.module_utils._registry.retry import RetryPolicy
from ansible_collections.airgap.hangar.plugins.module_utils._registry.transport import deadline_scope
from tests.support.fault_proxy import FaultProxy
from tests.support.image_sets import ALL_PLATFORMS
from tests.support.module_runner import run_module
from tests.support.scripted_server import ScriptedServer


def basic_value(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


@pytest.mark.parametrize("scheme", ["Bearer", "Basic"])
def test_a_redirect_targets_challenge_never_gets_the_registrys_credentials(
        scheme, basic_registry, client_for, image_factory, unique_repo, tmp_path):
    repo = unique_repo("redirect")
    image_factory.docker_image().push(client_for(basic_registry), repo, "1.0")
    with ScriptedServer(lambda request: (200, {"Content-Type": "application/json"}, b'{"token": "stolen"}')) \
            as third, ScriptedServer(lambda request: (
                401, {"Content-Type": "application/json", "WWW-Authenticate": (
                    'Bearer realm="%s/token",service="evil"' % third.url if scheme == "Bearer"
                    else 'Basic realm="evil"')}, b'{"errors":[{"code":"UNAUTHORIZED","message":"who are you"}]}'
            )) as elsewhere, FaultProxy(basic_registry.host, redirect=lambda method, path: (
                "%s%s" % (elsewhere.url, path) if method == "GET" and "/manifests/" in path else None)) as front:
        result = run_module("hangar_save", dict(
            images=["%s/%s:1.0" % (front.host, repo)], archive=str(tmp_path / "a.zip"),
            source_username=basic_registry.username, source_password=basic_registry.password, tls_verify=False,
            **ALL_PLATFORMS))

    assert result["failed"] is True
    assert "401" in result["images"][0]["error"], result["images"][0]["error"]
    secret = basic_value(basic_registry.username, basic_registry.password)
    assert elsewhere.requests, "the registry never redirected: the test proves nothing"
    for server in (elsewhere, third):
        for request in server.requests:
            assert "Authorization" not in request.headers, (server.url, request.headers)
            assert secret not in repr(request)
    assert not third.requests, "a token was asked for at the redirect target's realm"
    assert any(r.headers.get("Authorization", "").startswith("Basic ") for r in front.requests), \
        "the registry itself never got credentials: the test proves nothing"


class SilentServer:
    """Accepts TCP connections, records every byte sent to it, never answers (a registry that hangs)."""

    def __init__(self):
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self.port = self._socket.getsockname()[1]
        self.received = []
        self._connections = []
        self._stopped = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self._stopped:
            try:
                connection, _unused = self._socket.accept()
            except OSError:
                return
            self._connections.append(connection)
            threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection):
        while True:
            try:
                data = connection.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.received.append(data)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stopped = True
        self._socket.close()
        for connection in self._connections:
            connection.close()


def test_no_plain_http_fallback_after_an_https_timeout():
    with SilentServer() as silent:
        client = RegistryClient("127.0.0.1:%d" % silent.port, username="hangar", password="S3cret-in-clear",
                                tls_verify=False, timeout=1, retry=RetryPolicy(attempts=1))
        # The image's deadline bounds the TLS handshake too (its connect timeout is otherwise 10 s).
        with pytest.raises(RegistryError) as caught, deadline_scope(Deadline(2)):
            client.ping()
        client.close()

    message = str(caught.value)
    assert "over HTTPS" in message and "not trying plain HTTP" in message, message
    sent = b"".join(silent.received)
    assert sent.startswith(b"\x16"), "the client did not even try TLS"
    assert b"GET /v2/" not in sent and b"S3cret" not in sent
    assert base64.b64encode(b"hangar:S3cret-in-clear") not in sent


def test_plain_http_fallback_when_the_server_answers_plain_http(basic_registry, client_for):
    client = client_for(basic_registry, tls_verify=False)
    client.ping()
    assert client.base_url == "http://%s" % basic_registry.host
