"""Credentials go only where they belong (issue 11): hangar_save's registries are sources and get the source
credentials, never HANGAR_REGISTRY_*; each side's login goes to that side's registry only; registry_auth gives
each of several sources its own; everything else comes from the auth file per registry. Proven against real
htpasswd registries: what each one's log saw, and that no secret (nor its base64 user:password) is anywhere it
does not belong."""

import base64
import json
import uuid

import pytest

from tests.support.image_sets import ALL_PLATFORMS
from tests.support.module_runner import run_module


def basic_value(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def secrets_of(server):
    return {server.password, basic_value(server.username, server.password)}


def registry_log(server):
    """Everything a registry wrote: its own log (htpasswd failures name the user) and its access log."""
    text = ""
    for path in (server.log_path, server.access_log_path):
        try:
            with open(path, encoding="utf-8", errors="replace") as stream:
                text += stream.read()
        except FileNotFoundError:
            pass
    return text


def assert_never_reached(server, *others):
    """No user name, password or Basic value of `others` in what `server` logged."""
    log = registry_log(server)
    for other in others:
        # docker-registry logs a refused htpasswd login as: error authenticating user \"NAME\"
        assert other.username not in log, "%s's user reached %s" % (other.username, server.host)
        for secret in secrets_of(other):
            assert secret not in log


def assert_no_secret_in(text, *servers):
    for server in servers:
        for secret in secrets_of(server):
            assert secret not in text, "a secret of %s leaks" % server.username


@pytest.fixture
def scoped(registry_factory, client_for, image_factory, unique_repo):
    """Two source registries and a destination, each with its own htpasswd user; an image in each source."""
    first = registry_factory(auth="basic", username="srcone", count_requests=True)
    second = registry_factory(auth="basic", username="srctwo", count_requests=True)
    destination = registry_factory(auth="basic", username="dstuser", count_requests=True)
    images = {}
    for server in (first, second):
        repo = unique_repo("scope")
        image = image_factory.docker_image()
        image.push(client_for(server), repo, "1.0")
        images[server.host] = ("%s/%s:1.0" % (server.host, repo), image)
    return first, second, destination, images


def test_save_never_sends_the_destination_login_from_the_environment(scoped, monkeypatch, tmp_path):
    first, _second, destination, images = scoped
    reference, image = images[first.host]
    # What an AWX credential type injects: the air-gapped destination's login in HANGAR_REGISTRY_*.
    monkeypatch.setenv("HANGAR_REGISTRY_USERNAME", destination.username)
    monkeypatch.setenv("HANGAR_REGISTRY_PASSWORD", destination.password)
    failed_file = tmp_path / "failed.txt"

    anonymous = run_module("hangar_save", dict(images=[reference], archive=str(tmp_path / "a.zip"), tls_verify=False,
                                               failed_file=str(failed_file), **ALL_PLATFORMS))

    assert anonymous["failed"] is True
    assert "401" in anonymous["images"][0]["error"] and "no credentials found" in anonymous["images"][0]["error"]
    assert_never_reached(first, destination)

    monkeypatch.setenv("HANGAR_SOURCE_USERNAME", first.username)
    monkeypatch.setenv("HANGAR_SOURCE_PASSWORD", first.password)
    saved = run_module("hangar_save", dict(images=[reference], archive=str(tmp_path / "b.zip"), tls_verify=False,
                                           **ALL_PLATFORMS))

    assert saved.get("failed") is not True, saved["msg"]
    assert saved["images"][0]["digest"] == image.digest
    assert_never_reached(first, destination)
    assert_no_secret_in(json.dumps(anonymous) + json.dumps(saved) + failed_file.read_text(), first, destination)

    # The control: a refused login does show in the log, so the checks above can see one.
    refused = run_module("hangar_save", dict(images=[reference], archive=str(tmp_path / "c.zip"), tls_verify=False,
                                             source_username="control-user", source_password="wrong"))
    assert refused["failed"] is True
    assert 'authenticating user \\"control-user\\"' in registry_log(first)


def test_save_has_no_destination_credentials_at_all(scoped, tmp_path):
    first, _second, destination, images = scoped
    result = run_module("hangar_save", dict(images=[images[first.host][0]], archive=str(tmp_path / "a.zip"),
                                            username=destination.username, password=destination.password))
    assert result["failed"] is True and "Unsupported parameters" in result["msg"]
    assert "password" in result["msg"] and "username" in result["msg"]
    assert_never_reached(first, destination)


def test_mirror_sends_each_login_to_its_own_side_only(scoped, client_for, tmp_path):
    first, _second, destination, images = scoped
    reference, image = images[first.host]

    result = run_module("hangar_mirror", dict(
        images=[reference], registry=destination.host, project="mirrored", tls_verify=False, source_tls_verify=False,
        username=destination.username, password=destination.password,
        source_username=first.username, source_password=first.password, **ALL_PLATFORMS))

    assert result.get("failed") is not True, result["msg"]
    mirrored = "mirrored/" + reference.split("/", 2)[2].split(":")[0]
    assert client_for(destination).head_manifest(mirrored, "1.0")["digest"] == image.digest
    assert_never_reached(first, destination)
    assert_never_reached(destination, first)
    assert destination.count_requests("PUT", r"^/v2/mirrored/", status=201) > 0


def test_registry_auth_gives_each_source_its_own_login(scoped, tmp_path):
    first, second, destination, images = scoped
    failed_file = tmp_path / "failed.txt"
    args = dict(images=[images[first.host][0], images[second.host][0]], archive=str(tmp_path / "both.zip"),
                tls_verify=False, failed_file=str(failed_file), **ALL_PLATFORMS)

    one_login = run_module("hangar_save", dict(args, source_username=first.username,
                                               source_password=first.password))
    assert one_login["failed"] is True
    assert "source_username" in one_login["msg"] and first.host in one_login["msg"] \
        and second.host in one_login["msg"] and "registry_auth" in one_login["msg"]
    assert_never_reached(second, first)

    saved = run_module("hangar_save", dict(args, registry_auth=[
        {"registry": first.host, "username": first.username, "password": first.password},
        # The port written with leading zeros is the same registry.
        {"registry": second.host.replace(":", ":000"), "username": second.username, "password": second.password},
    ]))

    assert saved.get("failed") is not True, saved["msg"]
    assert [r["digest"] for r in saved["images"]] == [images[first.host][1].digest, images[second.host][1].digest]
    assert_never_reached(first, second, destination)
    assert_never_reached(second, first, destination)
    assert_no_secret_in(json.dumps(one_login) + json.dumps(saved), first, second)


def test_source_registry_names_where_the_source_login_goes(scoped, tmp_path):
    first, second, _destination, images = scoped
    # Two images written with the second registry, saved through the first (source_registry replaces it).
    reference = images[first.host][0].replace(first.host, second.host)
    saved = run_module("hangar_save", dict(images=[reference], archive=str(tmp_path / "a.zip"),
                                           source_registry=first.host, source_username=first.username,
                                           source_password=first.password, tls_verify=False, **ALL_PLATFORMS))
    assert saved.get("failed") is not True, saved["msg"]
    assert_never_reached(second, first)


def test_validate_never_reads_sources_with_the_destination_login(scoped, client_for):
    first, _second, destination, images = scoped
    reference, image = images[first.host]
    repository = reference.split("/", 1)[1].split(":")[0]
    image.push(client_for(destination), repository, "1.0")

    result = run_module("hangar_validate", dict(
        images=[reference], registry=destination.host, tls_verify=False, source_tls_verify=False,
        username=destination.username, password=destination.password, **ALL_PLATFORMS))

    # Before issue 11 the sources fell back to username/password; now they get their own or none.
    assert result["failed"] is True
    assert "401" in json.dumps(result["images"])
    assert_never_reached(first, destination)


@pytest.mark.parametrize("module, args", [
    ("hangar_mirror", dict(username="someone")),
    ("hangar_mirror", dict(source_password="secret-alone")),
    ("hangar_save", dict(source_username="someone")),
    ("hangar_load", dict(password="secret-alone")),
], ids=["user-without-password", "source-password-alone", "save-user-alone", "load-password-alone"])
def test_a_user_without_password_is_an_error(module, args, tmp_path):
    base = {"hangar_mirror": dict(images=["127.0.0.1:1/a/b:1"], registry="127.0.0.1:2"),
            "hangar_save": dict(images=["127.0.0.1:1/a/b:1"], archive=str(tmp_path / "a.zip")),
            "hangar_load": dict(archive=str(tmp_path / "a.zip"), registry="127.0.0.1:2")}[module]
    result = run_module(module, dict(base, **args))
    assert result["failed"] is True
    assert "parameters are required together" in result["msg"], result["msg"]
    assert "secret-alone" not in json.dumps(result)


def test_auth_file_gives_each_registry_its_own(scoped, tmp_path):
    first, second, destination, images = scoped
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps({"auths": {
        server.host: {"auth": basic_value(server.username, server.password)} for server in (first, second)}}))

    saved = run_module("hangar_save", dict(images=[images[first.host][0], images[second.host][0]],
                                           archive=str(tmp_path / "a.zip"), auth_file=str(auth_file),
                                           tls_verify=False, **ALL_PLATFORMS))

    assert saved.get("failed") is not True, saved["msg"]
    assert_never_reached(first, second)
    assert_never_reached(second, first)
    assert_no_secret_in(json.dumps(saved), first, second, destination)


def test_a_password_in_a_reference_is_refused_and_masked(scoped, tmp_path):
    first, _second, _destination, images = scoped
    reference = images[first.host][0]
    with_password = "%s:%s@%s" % (first.username, first.password, reference)
    failed_file = tmp_path / "failed.txt"

    result = run_module("hangar_save", dict(images=[with_password], archive=str(tmp_path / "a.zip"),
                                            failed_file=str(failed_file)))

    assert result["failed"] is True
    assert "must not hold credentials" in result["msg"] and "%s:***@" % first.username in result["msg"]
    assert_no_secret_in(json.dumps(result), first)
    assert not failed_file.exists() or first.password not in failed_file.read_text()

    registry = run_module("hangar_mirror", dict(images=[reference], registry="https://u:%s@%s" % (
        first.password, first.host)))
    assert registry["failed"] is True and "u:***@" in registry["msg"]
    assert first.password not in json.dumps(registry)


# -- Harbor: projects are created with the registry's own credential lookup, never with ~/.netrc


@pytest.fixture
def harbor_archive(registry, client_for, image_factory, tmp_path):
    project = "scope-%s" % uuid.uuid4().hex[:8]
    image_factory.docker_image().push(client_for(registry), "%s/app" % project, "1.0")
    archive = str(tmp_path / "harbor.zip")
    saved = run_module("hangar_save", dict(images=["%s/%s/app:1.0" % (registry.host, project)], archive=archive,
                                           tls_verify=False, **ALL_PLATFORMS))
    assert saved.get("failed") is not True, saved["msg"]
    return archive, project


def test_harbor_projects_are_created_with_the_auth_file_login(harbor, harbor_archive, tmp_path):
    archive, project = harbor_archive
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps({"auths": {harbor.host: {"auth": basic_value(*harbor.admin)}}}))

    loaded = run_module("hangar_load", dict(archive=archive, registry=harbor.host, auth_file=str(auth_file),
                                            tls_verify=False, **ALL_PLATFORMS))

    assert loaded.get("failed") is not True, loaded["msg"]
    assert loaded["projects_created"] == [project]
    assert project in harbor.state.projects


def test_harbor_never_reads_netrc(harbor, harbor_archive, tmp_path, monkeypatch):
    archive, project = harbor_archive
    home = tmp_path / "home"
    home.mkdir()
    host = harbor.host.split(":")[0]
    (home / ".netrc").write_text("machine %s login %s password %s\n" % (host, harbor.admin[0], harbor.admin[1]))
    (home / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NETRC", str(home / ".netrc"))

    project_only = run_module("hangar_harbor_project", dict(harbor_url="http://%s" % harbor.host,
                                                            name=project + "-netrc", tls_verify=False))

    assert project_only["failed"] is True, "the project was created with the ~/.netrc login"
    assert project + "-netrc" not in harbor.state.projects
    loaded = run_module("hangar_load", dict(archive=archive, registry=harbor.host, tls_verify=False,
                                            **ALL_PLATFORMS))
    assert loaded["failed"] is True
    assert project not in harbor.state.projects


def test_harbor_project_module_uses_the_auth_file(harbor, tmp_path):
    name = "scope-%s" % uuid.uuid4().hex[:8]
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps({"auths": {harbor.host: {"auth": basic_value(*harbor.admin)}}}))
    result = run_module("hangar_harbor_project", dict(harbor_url="http://%s" % harbor.host, name=name,
                                                      auth_file=str(auth_file), tls_verify=False))
    assert result.get("failed") is not True, result["msg"]
    assert result["changed"] is True and name in harbor.state.projects
    assert harbor.admin[1] not in json.dumps(result)
