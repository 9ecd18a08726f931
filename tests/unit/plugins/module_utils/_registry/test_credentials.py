"""Credential lookup: options, auth files of each kind, Docker Hub aliases, credential helpers."""

import base64
import json
import os
import stat

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import InputError
from ansible_collections.airgap.hangar.plugins.module_utils._registry.credentials import (
    Credentials,
    auth_key_host,
    default_auth_files,
    find_credentials,
)

REGISTRY = "reg.example.com:5000"

# A fake `docker-credential-<name>`: answers for the server URLs in its JSON table, fails otherwise,
# and records every server URL it was asked about.
HELPER_SCRIPT = """#!/bin/sh
read -r server
echo "$server" >> "$0.asked"
case "$server" in
%s
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"""


def auth(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def write_json(path, document):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return str(path)


@pytest.fixture
def home(tmp_path):
    """An empty home and an environment that points nowhere else."""
    directory = tmp_path / "home"
    directory.mkdir()
    return directory


@pytest.fixture
def environ(home, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    return {"HOME": str(home), "PATH": str(bin_dir)}


def install_helper(environ, name, answers):
    """answers: {server_url: (username, secret)}"""
    cases = "\n".join('  "%s") echo \'{"ServerURL":"%s","Username":"%s","Secret":"%s"}\' ;;'
                      % (server, server, user, secret) for server, (user, secret) in answers.items())
    path = os.path.join(environ["PATH"], "docker-credential-%s" % name)
    with open(path, "w") as stream:
        stream.write(HELPER_SCRIPT % cases)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def asked(helper_path):
    with open(helper_path + ".asked") as stream:
        return stream.read().split()


@pytest.mark.parametrize("key, host", [
    ("reg.example.com:5000", "reg.example.com:5000"),
    ("https://reg.example.com:5000", "reg.example.com:5000"),
    ("http://reg.example.com:5000/", "reg.example.com:5000"),
    ("https://reg.example.com:5000/v2/", "reg.example.com:5000"),
    ("REG.Example.com", "reg.example.com"),
    ("https://index.docker.io/v1/", "docker.io"),
    ("index.docker.io", "docker.io"),
    ("docker.io", "docker.io"),
    ("registry-1.docker.io", "docker.io"),
    ("reg.example.com/team", None),
    ("reg.example.com/team/app", None),
])
def test_auth_key_host(key, host):
    assert auth_key_host(key) == host


def test_default_auth_files_order(home):
    environ = {"HOME": str(home), "REGISTRY_AUTH_FILE": "/x/auth.json", "XDG_RUNTIME_DIR": "/run/user/7"}
    assert default_auth_files(environ) == [
        "/x/auth.json",
        "/run/user/7/containers/auth.json",
        str(home / ".config" / "containers" / "auth.json"),
        str(home / ".docker" / "config.json"),
    ]
    assert default_auth_files({"HOME": str(home), "DOCKER_CONFIG": "/d"})[-1] == "/d/config.json"


def test_options_win_over_files(home, environ):
    write_json(home / ".docker" / "config.json", {"auths": {REGISTRY: {"auth": auth("file", "filepw")}}})
    found = find_credentials(REGISTRY, "opt", "optpw", environ=environ)
    assert (found.username, found.password, found.origin) == ("opt", "optpw", "options")


@pytest.mark.parametrize("where", ["REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "containers", "docker", "DOCKER_CONFIG"])
@pytest.mark.parametrize("entry", [
    {"auth": auth("alice", "pw:with:colons")},
    {"username": "alice", "password": "pw:with:colons"},
])
def test_each_file_kind(tmp_path, home, environ, where, entry):
    document = {"auths": {"https://" + REGISTRY: entry}}
    if where == "REGISTRY_AUTH_FILE":
        environ["REGISTRY_AUTH_FILE"] = write_json(tmp_path / "elsewhere" / "auth.json", document)
    elif where == "XDG_RUNTIME_DIR":
        environ["XDG_RUNTIME_DIR"] = str(tmp_path / "run")
        write_json(tmp_path / "run" / "containers" / "auth.json", document)
    elif where == "containers":
        write_json(home / ".config" / "containers" / "auth.json", document)
    elif where == "docker":
        write_json(home / ".docker" / "config.json", document)
    else:
        environ["DOCKER_CONFIG"] = str(tmp_path / "dockercfg")
        write_json(tmp_path / "dockercfg" / "config.json", document)
    found = find_credentials(REGISTRY, environ=environ)
    assert (found.username, found.password) == ("alice", "pw:with:colons")


def test_first_file_knowing_the_registry_wins(tmp_path, home, environ):
    environ["REGISTRY_AUTH_FILE"] = write_json(tmp_path / "a.json", {"auths": {"other.io": {"auth": auth("o", "p")}}})
    write_json(home / ".config" / "containers" / "auth.json", {"auths": {REGISTRY: {"auth": auth("podman", "1")}}})
    write_json(home / ".docker" / "config.json", {"auths": {REGISTRY: {"auth": auth("docker", "2")}}})
    assert find_credentials(REGISTRY, environ=environ).username == "podman"


@pytest.mark.parametrize("key", ["https://index.docker.io/v1/", "docker.io", "index.docker.io",
                                 "registry-1.docker.io"])
def test_docker_hub_aliases(home, environ, key):
    write_json(home / ".docker" / "config.json", {"auths": {key: {"auth": auth("hubuser", "hubpw")}}})
    assert find_credentials("docker.io", environ=environ).username == "hubuser"


def test_unknown_registry_gives_none(home, environ):
    write_json(home / ".docker" / "config.json", {"auths": {"other.io": {"auth": auth("o", "p")},
                                                            "reg.example.com:5000/team": {"auth": auth("t", "p")}}})
    assert find_credentials(REGISTRY, environ=environ) is None
    assert find_credentials(REGISTRY, environ={"HOME": str(home / "nowhere"), "PATH": ""}) is None


def test_auth_file_option_is_the_only_file_read(tmp_path, home, environ):
    write_json(home / ".docker" / "config.json", {"auths": {REGISTRY: {"auth": auth("docker", "1")}}})
    explicit = write_json(tmp_path / "explicit.json", {"auths": {}})
    assert find_credentials(REGISTRY, auth_file=explicit, environ=environ) is None
    explicit = write_json(tmp_path / "explicit.json", {"auths": {REGISTRY: {"auth": auth("explicit", "2")}}})
    assert find_credentials(REGISTRY, auth_file=explicit, environ=environ).username == "explicit"


def test_missing_auth_file_option_is_an_input_error(tmp_path, environ):
    with pytest.raises(InputError, match="Error reading auth file .*missing.json: no such file"):
        find_credentials(REGISTRY, auth_file=str(tmp_path / "missing.json"), environ=environ)


@pytest.mark.parametrize("content, reason", [
    ('{"auths": {', "not valid JSON"),
    ('["a list"]', "expected a JSON object"),
])
def test_broken_files_are_named_without_their_content(tmp_path, environ, content, reason):
    path = tmp_path / "auth.json"
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        find_credentials(REGISTRY, auth_file=str(path), environ=environ)
    assert str(caught.value) == "Error reading auth file %s: %s" % (path, reason)


@pytest.mark.parametrize("encoded", ["%%%not-base64", base64.b64encode(b"no-colon-s3cret").decode()])
def test_bad_auth_entries_do_not_leak_the_secret(tmp_path, environ, encoded):
    path = write_json(tmp_path / "auth.json", {"auths": {REGISTRY: {"auth": encoded}}})
    with pytest.raises(InputError) as caught:
        find_credentials(REGISTRY, auth_file=path, environ=environ)
    assert "s3cret" not in str(caught.value) and encoded not in str(caught.value)
    assert "the auth entry for %s is not base64 of user:password" % REGISTRY in str(caught.value)


def test_cred_helper_for_the_registry(home, environ):
    helper = install_helper(environ, "test", {REGISTRY: ("helperuser", "helpersecret")})
    write_json(home / ".docker" / "config.json", {"credHelpers": {REGISTRY: "test"},
                                                  "auths": {REGISTRY: {"auth": auth("inline", "x")}}})
    found = find_credentials(REGISTRY, environ=environ)
    assert (found.username, found.password) == ("helperuser", "helpersecret")
    assert found.origin == "credential helper docker-credential-test"
    assert asked(helper) == [REGISTRY]


def test_creds_store_for_docker_hub_gets_the_legacy_url(home, environ):
    helper = install_helper(environ, "test", {"https://index.docker.io/v1/": ("hub", "hubsecret")})
    write_json(home / ".docker" / "config.json", {"credsStore": "test", "auths": {"https://index.docker.io/v1/": {}}})
    assert find_credentials("docker.io", environ=environ).password == "hubsecret"
    assert asked(helper) == ["https://index.docker.io/v1/"]


def test_inline_auths_come_before_creds_store(home, environ):
    helper = install_helper(environ, "test", {REGISTRY: ("store", "s")})
    write_json(home / ".docker" / "config.json", {"credsStore": "test", "auths": {REGISTRY: {"auth": auth("in", "l")}}})
    assert find_credentials(REGISTRY, environ=environ).username == "in"
    assert not os.path.exists(helper + ".asked")


def test_helper_not_on_path_is_ignored(home, environ):
    write_json(home / ".docker" / "config.json", {"credHelpers": {REGISTRY: "absent"}, "credsStore": "absent",
                                                  "auths": {REGISTRY: {"auth": auth("fallback", "f")}}})
    assert find_credentials(REGISTRY, environ=environ).username == "fallback"


def test_helper_that_does_not_know_the_registry_gives_none(home, environ):
    install_helper(environ, "test", {"other.io": ("o", "p")})
    write_json(home / ".docker" / "config.json", {"credsStore": "test"})
    assert find_credentials(REGISTRY, environ=environ) is None


def test_identity_tokens_from_helpers_are_not_used_as_passwords(home, environ):
    install_helper(environ, "test", {REGISTRY: ("<token>", "refresh-token")})
    write_json(home / ".docker" / "config.json", {"credHelpers": {REGISTRY: "test"}})
    assert find_credentials(REGISTRY, environ=environ) is None


def test_credentials_repr_hides_the_password():
    text = repr(Credentials("alice", "s3cret", "options"))
    assert "alice" in text and "s3cret" not in text
