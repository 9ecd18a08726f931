"""hangar_harbor_project and HarborClient against the Harbor emulator (REST, token service and /v2 proxy)."""

import hashlib
import json
import uuid

import pytest
import requests

from ansible_collections.airgap.hangar.plugins.module_utils._errors import HarborError, InputError
from ansible_collections.airgap.hangar.plugins.module_utils._harbor import client as harbor_client
from ansible_collections.airgap.hangar.plugins.module_utils._harbor.client import (
    HarborClient,
    validate_project_name,
)
from ansible_collections.airgap.hangar.plugins.module_utils._image.media_types import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST_V2,
)
from ansible_collections.airgap.hangar.plugins.module_utils._registry.retry import RetryPolicy
from ansible_collections.airgap.hangar.plugins.modules.hangar_harbor_project import parse_storage_quota
from tests.support.module_runner import run_module
from tests.support.skopeo import run_skopeo

MODULE = "hangar_harbor_project"
GIB = 1024 ** 3
NO_RETRY = RetryPolicy(attempts=1)


@pytest.fixture
def project_name():
    return "p-%s" % uuid.uuid4().hex[:10]


def module_args(harbor, name, credentials=None, **options):
    username, password = credentials or harbor.admin
    return dict(harbor_url=harbor.url, username=username, password=password, name=name, **options)


def project_in_harbor(harbor, name):
    with harbor.state.lock:
        project = harbor.state.projects.get(name)
        return json.loads(json.dumps(project)) if project else None


def client_for(harbor, credentials=None, **options):
    username, password = credentials if credentials is not None else harbor.admin
    return HarborClient(harbor.url, username=username, password=password, retry=NO_RETRY, **options)


# -- pushing through the emulator's /v2 side, as a registry client would --

def bearer_token(harbor, repository, credentials):
    """Follow the registry's challenge to the emulator's token service, as docker and skopeo do."""
    challenge = requests.get(harbor.url + "/v2/", timeout=10)
    assert challenge.status_code == 401
    assert 'realm="%s/service/token"' % harbor.url in challenge.headers["WWW-Authenticate"]
    answer = requests.get(harbor.url + "/service/token", auth=credentials, timeout=10,
                          params={"service": "harbor-registry", "scope": "repository:%s:pull,push" % repository})
    answer.raise_for_status()
    return answer.json()["token"]


def push_blob(harbor, repository, data, headers):
    """POST then PUT (the registry does not take single-request uploads); the last response."""
    started = requests.post("%s/v2/%s/blobs/uploads/" % (harbor.url, repository), headers=headers, timeout=10)
    if started.status_code != 202:
        return started
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return requests.put(started.headers["Location"], params={"digest": digest}, data=data, timeout=10,
                        headers=dict(headers, **{"Content-Type": "application/octet-stream"}))


def push_tiny_image(harbor, repository, tag="1.0", credentials=None):
    """Push a one-layer Docker v2 image; the response that ended the push (the manifest's PUT when all went well)."""
    headers = {"Authorization": "Bearer " + bearer_token(harbor, repository, credentials or harbor.admin)}
    layer = b"not really a tarball, but the registry does not look " + repository.encode()
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
                        ).encode()
    for blob in (layer, config):
        answer = push_blob(harbor, repository, blob, headers)
        if answer.status_code != 201:
            return answer
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST_V2,
        "config": {"mediaType": DOCKER_CONFIG, "size": len(config),
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
        "layers": [{"mediaType": DOCKER_LAYER, "size": len(layer),
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest()}],
    }).encode()
    answer = requests.put("%s/v2/%s/manifests/%s" % (harbor.url, repository, tag), data=manifest, timeout=10,
                          headers=dict(headers, **{"Content-Type": DOCKER_MANIFEST_V2}))
    return answer


def test_a_push_into_an_existing_project_goes_through_to_the_registry(harbor, project_name):
    client_for(harbor).create_project(project_name)
    answer = push_tiny_image(harbor, project_name + "/app")
    assert answer.status_code == 201, answer.text
    manifest = answer.request.body
    assert answer.headers["Location"].startswith(harbor.url + "/v2/" + project_name + "/app/manifests/")
    assert answer.headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(manifest).hexdigest()
    # skopeo, the independent check: it finds the token service from the emulator's challenge.
    raw = run_skopeo(["inspect", "--raw", "--tls-verify=false", "--creds", "%s:%s" % harbor.admin,
                      "docker://%s/%s/app:1.0" % (harbor.host, project_name)], timeout=60)
    assert raw == manifest
    assert [r["name"] for r in client_for(harbor).list_repositories(project_name)] == [project_name + "/app"]


def test_a_push_into_a_missing_project_is_refused_as_harbor_does(harbor, project_name):
    answer = push_tiny_image(harbor, project_name + "/app")
    assert answer.status_code == 401
    assert answer.json() == {"errors": [{"code": "UNAUTHORIZED", "message": "project %s not found" % project_name}]}


def test_a_user_may_push_only_into_projects_of_theirs(harbor, project_name):
    client_for(harbor).create_project(project_name)
    answer = push_tiny_image(harbor, project_name + "/app", credentials=harbor.user)
    assert answer.status_code == 401
    client_for(harbor, harbor.user).create_project(project_name + "-mine")
    answer = push_tiny_image(harbor, project_name + "-mine/app", credentials=harbor.user)
    assert answer.status_code == 201, answer.text


# -- the module --

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def run_watched(harbor, args, check_mode=False, diff=False):
    """The module, with Harbor's API log as the witness: in check mode, or when it reports no change, it
    sent no write request (and it did read, so the check means something)."""
    before = len(harbor.api_calls)
    result = run_module(MODULE, args, check_mode=check_mode, diff=diff)
    calls = harbor.api_calls[before:]
    if check_mode or result.get("changed") is False:
        assert [call for call in calls if call[0] in WRITE_METHODS] == [], (check_mode, result.get("msg"), calls)
        assert [call for call in calls if call[0] == "GET"], "the module read nothing from Harbor: %s" % calls
    return result


def test_create_then_rerun_reports_no_change(harbor, project_name):
    args = module_args(harbor, project_name)
    planned = run_watched(harbor, args, check_mode=True)
    assert planned["changed"] is True and planned["project"] is None
    assert project_in_harbor(harbor, project_name) is None

    created = run_module(MODULE, args)
    assert created["changed"] is True, created
    assert created["project"]["name"] == project_name
    assert created["project"]["metadata"]["public"] == "false"
    assert project_in_harbor(harbor, project_name)["metadata"] == {"public": "false"}
    assert created["quota"] == {"hard": -1, "used": 0}

    for check_mode in (True, False):
        again = run_watched(harbor, args, check_mode=check_mode)
        assert again["changed"] is False, again
        assert again["msg"] == "Harbor project %s is up to date" % project_name


def test_a_project_another_run_creates_meanwhile_is_taken_as_it_is(harbor, project_name, monkeypatch):
    real_get_project = HarborClient.get_project
    reads = []

    def get_project_while_another_run_creates_it(client, name):
        reads.append(name)
        if len(reads) == 1:
            harbor.state.create_project(harbor.admin[0], {"project_name": name})
            return None
        return real_get_project(client, name)

    monkeypatch.setattr(HarborClient, "get_project", get_project_while_another_run_creates_it)
    result = run_module(MODULE, module_args(harbor, project_name, public=True), diff=True)
    assert result["changed"] is True, result
    assert result["msg"] == "Updated Harbor project %s (public)" % project_name
    assert result["diff"]["before"] == {"name": project_name, "state": "present", "public": False}
    assert project_in_harbor(harbor, project_name)["metadata"] == {"public": "true"}


def test_changed_settings_are_set_with_one_update(harbor, project_name):
    run_module(MODULE, module_args(harbor, project_name, public=False))
    args = module_args(harbor, project_name, public=True, auto_scan=True, severity="high", prevent_vulnerable=True,
                       cve_allowlist=["CVE-2024-2", "CVE-2024-1", "CVE-2024-2"])

    planned = run_watched(harbor, args, check_mode=True)
    assert planned["changed"] is True
    assert project_in_harbor(harbor, project_name)["metadata"] == {"public": "false"}

    harbor.api_calls.clear()
    updated = run_module(MODULE, args)
    assert updated["changed"] is True, updated
    assert [call for call in harbor.api_calls if call[0] in ("POST", "PUT", "DELETE")] == [
        ("PUT", "/api/v2.0/projects/" + project_name)]
    stored = project_in_harbor(harbor, project_name)
    assert stored["metadata"] == {"public": "true", "auto_scan": "true", "severity": "high", "prevent_vul": "true"}
    assert [item["cve_id"] for item in stored["cve_allowlist"]["items"]] == ["CVE-2024-1", "CVE-2024-2"]
    assert updated["project"]["metadata"] == stored["metadata"]

    assert run_module(MODULE, args)["changed"] is False
    emptied = run_module(MODULE, module_args(harbor, project_name, cve_allowlist=[]))
    assert emptied["changed"] is True and emptied["project"]["cve_allowlist"]["items"] == []
    # Only the keys given are compared: leaving auto_scan out does not reset it.
    assert run_module(MODULE, module_args(harbor, project_name, public=True))["changed"] is False
    assert run_module(MODULE, module_args(harbor, project_name, auto_scan=False))["changed"] is True
    assert project_in_harbor(harbor, project_name)["metadata"]["auto_scan"] == "false"


def test_every_boolean_setting_reaches_its_metadata_key(harbor, project_name):
    options = {"content_trust": True, "content_trust_cosign": True, "auto_sbom_generation": True,
               "reuse_sys_cve_allowlist": False}
    assert run_module(MODULE, module_args(harbor, project_name, **options))["changed"] is True
    assert project_in_harbor(harbor, project_name)["metadata"] == {
        "public": "false", "enable_content_trust": "true", "enable_content_trust_cosign": "true",
        "auto_sbom_generation": "true", "reuse_sys_cve_allowlist": "false"}
    assert run_module(MODULE, module_args(harbor, project_name, **options))["changed"] is False


def test_diff_shows_the_compared_settings(harbor, project_name):
    created = run_module(MODULE, module_args(harbor, project_name, public=True), diff=True)
    assert created["diff"] == {"before": {"name": project_name, "state": "absent"},
                               "after": {"name": project_name, "state": "present", "public": True}}
    changed = run_watched(harbor, module_args(harbor, project_name, public=False, auto_scan=True,
                                              storage_quota="1GiB"), diff=True, check_mode=True)
    assert changed["diff"] == {
        "before": {"name": project_name, "state": "present", "public": True, "auto_scan": None,
                   "storage_quota": -1},
        "after": {"name": project_name, "state": "present", "public": False, "auto_scan": True,
                  "storage_quota": GIB}}
    deleted = run_module(MODULE, module_args(harbor, project_name, state="absent"), diff=True)
    assert deleted["diff"] == {"before": {"name": project_name, "state": "present"},
                               "after": {"name": project_name, "state": "absent"}}


def test_storage_quota_is_set_through_the_quota_api(harbor, project_name):
    args = module_args(harbor, project_name, storage_quota="10GiB")
    created = run_module(MODULE, args)
    assert created["changed"] is True and created["quota"] == {"hard": 10 * GIB, "used": 0}
    project_id = project_in_harbor(harbor, project_name)["project_id"]
    assert harbor.state.quotas[project_id]["hard"] == {"storage": 10 * GIB}
    assert run_module(MODULE, args)["changed"] is False

    planned = run_watched(harbor, module_args(harbor, project_name, storage_quota="-1"), check_mode=True)
    assert planned["changed"] is True and planned["quota"]["hard"] == 10 * GIB
    unlimited = run_module(MODULE, module_args(harbor, project_name, storage_quota="-1"))
    assert unlimited["changed"] is True and unlimited["quota"]["hard"] == -1


def test_a_quota_that_is_no_size_fails_before_any_call(harbor, project_name):
    harbor.api_calls.clear()
    result = run_module(MODULE, module_args(harbor, project_name, storage_quota="ten gigs"))
    assert result["failed"] is True
    assert "invalid storage_quota 'ten gigs'" in result["msg"] and "10GiB" in result["msg"]
    assert harbor.api_calls == []


@pytest.mark.parametrize("text, size", [
    ("1073741824", GIB), ("-1", -1), ("10GiB", 10 * GIB), ("500MB", 500 * 1000 ** 2), ("1.5 KiB", 1536),
    ("2tb", 2 * 1000 ** 4), ("7B", 7), ("1PiB", 1024 ** 5),
])
def test_storage_quota_sizes(text, size):
    assert parse_storage_quota(text) == size


@pytest.mark.parametrize("text", ["0", "-2", "1.5", "10 GB extra", "GiB", "", "0.1B", "1e9"])
def test_storage_quota_sizes_that_are_refused(text):
    with pytest.raises(InputError, match="storage_quota"):
        parse_storage_quota(text)


def test_absent_deletes_and_reruns_unchanged(harbor, project_name):
    run_module(MODULE, module_args(harbor, project_name))
    args = module_args(harbor, project_name, state="absent")
    planned = run_watched(harbor, args, check_mode=True)
    assert planned["changed"] is True and planned["project"]["name"] == project_name
    assert project_in_harbor(harbor, project_name) is not None

    deleted = run_module(MODULE, args)
    assert deleted["changed"] is True and deleted["project"] is None, deleted
    assert project_in_harbor(harbor, project_name) is None
    for check_mode in (True, False):
        assert run_watched(harbor, args, check_mode=check_mode)["changed"] is False


def test_absent_with_repositories_needs_force(harbor, project_name):
    run_module(MODULE, module_args(harbor, project_name))
    for repository in ("app", "team/tool"):
        answer = push_tiny_image(harbor, "%s/%s" % (project_name, repository))
        assert answer.status_code == 201, answer.text
    args = module_args(harbor, project_name, state="absent")

    refused = run_module(MODULE, args)
    assert refused["failed"] is True
    expected_start = "Error deleting Harbor project %s on %s: PRECONDITION " % (project_name, harbor.url)
    assert refused["msg"].startswith(expected_start)
    assert "(HTTP 412); set force: true" in refused["msg"]
    planned = run_watched(harbor, args, check_mode=True)
    assert planned["failed"] is True and "holds 2 repositories; set force: true" in planned["msg"]

    planned = run_watched(harbor, dict(args, force=True), check_mode=True)
    assert planned["changed"] is True
    assert sorted(planned["deleted_repositories"]) == [project_name + "/app", project_name + "/team/tool"]
    assert len(client_for(harbor).list_repositories(project_name)) == 2

    forced = run_module(MODULE, dict(args, force=True))
    assert forced["changed"] is True, forced
    assert sorted(forced["deleted_repositories"]) == [project_name + "/app", project_name + "/team/tool"]
    assert project_in_harbor(harbor, project_name) is None
    assert forced["msg"] == "Deleted Harbor project %s and its 2 repositories" % project_name


def test_a_bad_project_name_fails_with_the_rule(harbor):
    harbor.api_calls.clear()
    result = run_module(MODULE, module_args(harbor, "Bad_Name"))
    assert result["failed"] is True
    assert result["msg"].startswith("invalid Harbor project name 'Bad_Name': ")
    assert "^[a-z0-9]+(?:[._-][a-z0-9]+)*$" in result["msg"]
    assert harbor.api_calls == []


def test_bad_credentials_fail_clearly_without_the_password(harbor, project_name):
    password = "wrong-%s" % uuid.uuid4().hex
    result = run_module(MODULE, module_args(harbor, project_name, credentials=(harbor.admin[0], password)))
    assert result["failed"] is True
    assert result["msg"] == ("Error reading Harbor project %s on %s: UNAUTHORIZED unauthorized (HTTP 401); check "
                             "username and password: Harbor treats bad credentials as anonymous"
                             % (project_name, harbor.url))
    assert password not in json.dumps(result)


def test_credentials_come_from_the_environment(harbor, project_name, monkeypatch):
    monkeypatch.setenv("HARBOR_USERNAME", harbor.admin[0])
    monkeypatch.setenv("HARBOR_PASSWORD", harbor.admin[1])
    result = run_module(MODULE, {"harbor_url": harbor.url, "name": project_name})
    assert result["changed"] is True, result
    assert result["project"]["owner_name"] == harbor.admin[0]
    assert harbor.admin[1] not in json.dumps(result)


def test_a_user_creates_projects_unless_harbor_allows_only_admins(harbor, project_name):
    created = run_module(MODULE, module_args(harbor, project_name, credentials=harbor.user))
    assert created["changed"] is True and created["project"]["owner_name"] == harbor.user[0]
    assert created["quota"] is None  # quotas are for system admins
    assert run_module(MODULE, module_args(harbor, project_name, credentials=harbor.user))["changed"] is False

    harbor.state.project_creation_restriction = "adminonly"
    refused = run_module(MODULE, module_args(harbor, project_name + "-2", credentials=harbor.user))
    assert refused["failed"] is True
    assert refused["msg"] == ("Error creating Harbor project %s-2 on %s: FORBIDDEN Only system admin can create "
                              "project (HTTP 403); create the project first or use an account that may"
                              % (project_name, harbor.url))


def test_a_user_is_told_when_the_project_is_not_theirs(harbor, project_name):
    run_module(MODULE, module_args(harbor, project_name))
    result = run_module(MODULE, module_args(harbor, project_name, credentials=harbor.user, auto_scan=True))
    assert result["failed"] is True
    assert "FORBIDDEN" in result["msg"] and result["msg"].endswith("the account is not a member of the project")


def test_a_user_may_not_set_a_quota(harbor, project_name):
    result = run_module(MODULE, module_args(harbor, project_name, credentials=harbor.user, storage_quota="1GiB"))
    assert result["failed"] is True
    assert result["msg"].startswith("Error reading the quota of Harbor project id ")
    assert result["msg"].endswith("(HTTP 403); Harbor lets only system administrators read and set quotas")


# -- the client --

@pytest.mark.parametrize("name", ["a", "0", "123", "a.b", "a_b-c", "library", "x" * 255])
def test_valid_project_names(name):
    assert validate_project_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "a..b", "-a", "a-", "a/b", "a b", "é", "x" * 256, None])
def test_invalid_project_names(name):
    with pytest.raises(InputError, match="invalid Harbor project name"):
        validate_project_name(name)


@pytest.mark.parametrize("url", ["harbor.example.com", "ftp://h", "https://", "https://h/api", "https://h:x",
                                 "https://h?q=1"])
def test_a_harbor_url_must_be_scheme_and_host(url):
    with pytest.raises(InputError, match="invalid Harbor URL"):
        HarborClient(url)


def test_credentials_in_the_url_are_refused_without_echoing_them():
    with pytest.raises(InputError) as caught:
        HarborClient("https://admin:s3cret@harbor.example.com")
    assert "s3cret" not in str(caught.value)


def test_the_client_never_shows_its_password(harbor):
    client = HarborClient(harbor.url + "/", username="admin", password="s3cret")
    assert client.url == harbor.url
    assert "s3cret" not in repr(client)


def test_no_cookie_is_kept_so_writes_pass_the_csrf_check(harbor, project_name):
    client = client_for(harbor)
    assert client.create_project(project_name) is True
    client.update_project(project_name, {"auto_scan": True})
    client.delete_project(project_name)
    # A session that keeps the `sid` cookie, as a browser does, is what Harbor's CSRF check stops.
    session = requests.Session()
    session.auth = harbor.admin
    session.get(harbor.url + "/api/v2.0/systeminfo", timeout=10)
    refused = session.post(harbor.url + "/api/v2.0/projects", json={"project_name": project_name}, timeout=10)
    assert refused.status_code == 403
    assert refused.json() == {"errors": [{"code": "FORBIDDEN", "message": "CSRF token invalid"}]}


def test_create_project_reports_a_project_made_meanwhile(harbor, project_name):
    client = client_for(harbor)
    assert client.create_project(project_name, public=True) is True
    assert client.create_project(project_name) is False
    assert client.get_project(project_name)["metadata"]["public"] == "true"


def test_projects_named_with_digits_are_addressed_by_name(harbor):
    name = str(uuid.uuid4().int)[:12]
    client = client_for(harbor)
    client.create_project(name)
    assert client.get_project(name)["name"] == name
    client.update_project(name, {"public": True})
    assert client.get_project(name)["metadata"]["public"] == "true"
    client.delete_project(name)
    assert client.get_project(name) is None


def test_ensure_projects_creates_what_is_missing_and_says_what_failed(harbor, project_name):
    admin = client_for(harbor)
    admin.create_project(project_name + "-old")
    names = [project_name + "-old", project_name + "-new", project_name + "-new", "Bad"]
    created, failed = admin.ensure_projects(names)
    assert created == [project_name + "-new"]
    assert list(failed) == ["Bad"] and "invalid Harbor project name 'Bad'" in failed["Bad"]
    assert admin.get_project(project_name + "-new")["metadata"]["public"] == "false"

    harbor.state.project_creation_restriction = "adminonly"
    created, failed = client_for(harbor, harbor.user).ensure_projects([project_name + "-old", project_name + "-x"])
    assert created == []
    assert failed == {project_name + "-x": "Error creating Harbor project %s-x on %s: FORBIDDEN Only system admin "
                                           "can create project (HTTP 403); create the project first or use an "
                                           "account that may" % (project_name, harbor.url)}


def test_project_exists_falls_back_to_the_list_when_head_is_refused(harbor, project_name):
    admin = client_for(harbor)
    admin.create_project(project_name + "-public", public=True)
    admin.create_project(project_name + "-private")
    anonymous = HarborClient(harbor.url, retry=NO_RETRY)
    assert anonymous.project_exists(project_name + "-public") is True
    assert anonymous.project_exists(project_name + "-private") is False  # anonymous sees public projects only
    assert admin.project_exists(project_name + "-private") is True
    assert admin.project_exists(project_name + "-none") is False


def test_a_user_gets_none_for_a_missing_project_despite_harbors_403(harbor, project_name):
    user = client_for(harbor, harbor.user)
    assert user.get_project(project_name) is None
    client_for(harbor).create_project(project_name)
    with pytest.raises(HarborError, match="not a member of the project") as caught:
        user.get_project(project_name)
    assert caught.value.status == 403


def test_repositories_are_listed_page_by_page_and_deleted(harbor, project_name, monkeypatch):
    client = client_for(harbor)
    client.create_project(project_name)
    repositories = ["%s/app-%d" % (project_name, n) for n in range(3)] + [project_name + "/team/tool"]
    for repository in repositories:
        assert push_tiny_image(harbor, repository).status_code == 201
    monkeypatch.setattr(harbor_client, "PAGE_SIZE", 1)
    harbor.api_calls.clear()
    assert sorted(r["name"] for r in client.list_repositories(project_name)) == sorted(repositories)
    assert len(harbor.api_calls) == 4

    client.delete_repository(project_name, project_name + "/team/tool")
    client.delete_repository(project_name, "app-0")
    remaining = [r["name"] for r in client.list_repositories(project_name)]
    assert sorted(remaining) == [project_name + "/app-1", project_name + "/app-2"]


def test_is_harbor_tells_harbor_from_a_plain_registry(harbor, registry):
    assert HarborClient(harbor.url).is_harbor() is True
    assert HarborClient(registry.url).is_harbor() is False
    assert HarborClient("http://127.0.0.1:9").is_harbor() is False


def test_system_info_shows_the_version_to_logged_in_callers(harbor):
    assert client_for(harbor).system_info()["harbor_version"]
    assert "harbor_version" not in HarborClient(harbor.url, retry=NO_RETRY).system_info()


def test_https_to_a_plain_http_port_fails_at_once_with_a_tls_hint(harbor):
    client = HarborClient("https://" + harbor.host, retry=NO_RETRY, timeout=5)
    with pytest.raises(HarborError, match="^Error reading Harbor system info on https://127.0.0.1:[0-9]+: TLS ") \
            as caught:
        client.system_info()
    assert "tls_verify: false" in str(caught.value)


def test_a_refused_connection_is_reported_with_the_url():
    client = HarborClient("http://127.0.0.1:9", retry=NO_RETRY)
    with pytest.raises(HarborError, match=r"^Error checking Harbor project p on http://127.0.0.1:9: "):
        client.project_exists("p")
