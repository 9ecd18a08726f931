"""CredentialScope and registry_auth: which credentials go to which registry (issue 11)."""

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import InputError
from ansible_collections.airgap.hangar.plugins.module_utils._registry.credentials import (
    Credentials,
    CredentialScope,
    registry_auth_entries,
)


def scope(username="user", password="pw", per_registry=None):
    return CredentialScope(username, password, per_registry, names=("source_username", "source_registry"))


@pytest.mark.parametrize("registries, named, gets, gets_not", [
    (["a.example:5000"], None, "a.example:5000", "b.example"),
    (["a.example:5000", "a.example:5000"], None, "a.example:5000", "docker.io"),
    (["b.example", "c.example"], "a.example:05000", "a.example:5000", "b.example"),
    ([], "docker.io", "docker.io", "quay.io"),
], ids=["one-registry", "same-twice", "named-wins", "named-only"])
def test_the_sides_login_goes_to_its_one_registry(registries, named, gets, gets_not):
    bound = scope().bind(registries, named)
    assert bound.credentials_for(gets) == Credentials("user", "pw", "options")
    assert bound.credentials_for(gets_not) is None


def test_several_registries_with_one_login_is_an_error_naming_them():
    with pytest.raises(InputError) as caught:
        scope().bind(["b.example", "a.example"])
    message = str(caught.value)
    assert "source_username" in message and "a.example, b.example" in message
    assert "source_registry" in message and "registry_auth" in message
    assert "pw" not in message


def test_without_a_login_several_registries_are_fine_and_get_nothing():
    bound = scope(username=None, password=None).bind(["a.example", "b.example"])
    assert bound.credentials_for("a.example") is None


def test_registry_auth_entries_go_to_their_registry_and_the_sides_login_wins():
    entries = registry_auth_entries([{"registry": "https://A.example:0443/", "username": "a", "password": "pa"},
                                     {"registry": "index.docker.io", "username": "hub", "password": "ph"}])
    assert set(entries) == {"A.example:443", "docker.io"}
    bound = scope(per_registry=entries).bind([], "docker.io")
    assert bound.credentials_for("docker.io").username == "user"
    assert bound.credentials_for("A.example:443").username == "a"
    assert bound.credentials_for("c.example") is None


@pytest.mark.parametrize("entries, expected", [
    ([{"registry": "a.example", "username": "u"}], "entry 1: expected registry, username and password"),
    ([{"registry": "a.example", "username": "u", "password": "p"},
      {"registry": "a.example:", "username": "v", "password": "q"}], "invalid registry"),
    ([{"registry": "a.example", "username": "u", "password": "p"},
      {"registry": "https://a.example", "username": "v", "password": "secret-q"}], "a.example is named twice"),
    ([{"registry": "a.example:99999", "username": "u", "password": "secret-p"}], "port 99999 is not from 1 to 65535"),
])
def test_bad_registry_auth_entries(entries, expected):
    with pytest.raises(InputError) as caught:
        registry_auth_entries(entries)
    assert expected in str(caught.value)
    assert "secret" not in str(caught.value)


def test_unbound_scope_refuses_to_answer():
    with pytest.raises(RuntimeError):
        scope().credentials_for("a.example")
