"""pytest fixtures for Harbor: the emulator with its backing docker-registry (registered from tests/conftest.py).

    def test_x(harbor):
        harbor.url, harbor.host, harbor.admin, harbor.user     # ("admin", pw), ("developer", pw)
        harbor.state.project_creation_restriction = "adminonly"  # reset to "everyone" for the next test

One emulator and registry serve a whole test session (per xdist worker); tests use unique project names.
"""

import pytest

from .harbor_emulator import HarborEmulator
from .registry import RegistryServer


@pytest.fixture(scope="session")
def harbor_server():
    emulator = HarborEmulator().start()
    try:
        registry = RegistryServer(auth="token", token_issuer=emulator.token_issuer,
                                  token_realm=emulator.token_realm).start()
        try:
            emulator.attach_registry(registry)
            yield emulator
        finally:
            registry.stop()
    finally:
        emulator.stop()


@pytest.fixture
def harbor(harbor_server):
    """The session's Harbor emulator, with non-admins allowed to create projects (Harbor's default)."""
    harbor_server.state.project_creation_restriction = "everyone"
    yield harbor_server
    harbor_server.state.project_creation_restriction = "everyone"
