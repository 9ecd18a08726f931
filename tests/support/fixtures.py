"""pytest fixtures shared by every test (registered from tests/conftest.py).

Session-scoped registries (one of each per pytest process, started on first use):
`registry` (plain HTTP), `basic_registry` (htpasswd), `token_registry` (Bearer tokens from a
TokenServer), `tls_registry` (self-signed HTTPS). They accept Docker schema 1 and foreign layers,
and count requests (RegistryServer.count_requests). Share them: give each test its own
repositories with `unique_repo()`. For a registry of your own (Distribution defaults, a custom
token policy, one you may break), call `registry_factory(**RegistryServer options)`.
"""

import itertools
import re
import uuid

import pytest

from .image_factory import ImageFactory
from .registry import RegistryServer

SESSION_REGISTRY_OPTIONS = {"schema1": True, "foreign_layers": True, "count_requests": True}


def _session_registry(**options):
    server = RegistryServer(**dict(SESSION_REGISTRY_OPTIONS, **options))
    server.start()
    return server


@pytest.fixture(scope="session")
def registry():
    server = _session_registry()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def basic_registry():
    server = _session_registry(auth="basic")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_registry():
    server = _session_registry(auth="token")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_registry():
    server = _session_registry(tls=True)
    yield server
    server.stop()


@pytest.fixture
def registry_factory():
    """registry_factory(**options) -> a started RegistryServer, stopped after the test."""
    started = []

    def start(**options):
        server = RegistryServer(**options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def unique_repo(request):
    """unique_repo(prefix="test") -> a repository name no other test uses ("test/<test-name>-<hex>")."""
    test_name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-") or "repo"
    serial = itertools.count(1)

    def make(prefix="test"):
        return "%s/%s-%d-%s" % (prefix, test_name, next(serial), uuid.uuid4().hex[:8])

    return make


@pytest.fixture
def image_factory(request):
    """An ImageFactory seeded with the test's id: the same test builds the same images every run."""
    return ImageFactory(seed=request.node.nodeid)


@pytest.fixture
def client_for():
    """client_for(registry, **overrides) -> a RegistryClient set up for that RegistryServer
    (credentials, TLS); closed after the test."""
    from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient

    clients = []

    def make(server, **overrides):
        client = RegistryClient(**dict(server.client_kwargs(), **overrides))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
