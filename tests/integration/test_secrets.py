"""Secrets: passwords, Basic credentials and Bearer tokens never show in results, failed files, warnings,
exceptions, log lines or `ansible-playbook -vvv` output; tokens and credentials never follow a redirect
to another host; TLS is verified unless turned off for that registry."""

import base64
import json
import os
import subprocess
import traceback
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from ansible_collections.airgap.hangar.plugins.module_utils._errors import HangarError
from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient
from tests.support import skopeo
from tests.support.fault_proxy import FaultProxy
from tests.support.image_sets import ALL_PLATFORMS, digest_of
from tests.support.module_runner import run_module
from tests.support.playbook_runner import BIN_DIR, COLLECTIONS_PATH, PLAYBOOK_TIMEOUT, local_host
from tests.support.scripted_server import ScriptedServer
from tests.support.token_auth import TokenIssuer

WRONG_PASSWORD = "Wr0ng-Pa55word-for-the-test"
MODULE_LOG_SHIM = Path(__file__).resolve().parents[1] / "support" / "module_log"


class RecordingTokenIssuer(TokenIssuer):
    """A TokenIssuer that remembers every token it signed, so tests can look for them in outputs."""

    def __init__(self, **options):
        super().__init__(**options)
        self.issued = []

    def issue(self, subject, access, expires_in=300):
        token = super().issue(subject, access, expires_in)
        self.issued.append(token)
        return token


def basic_value(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def secrets_of(*registries, issuers=()):
    """Every secret string that must not leak: passwords, their Basic header values, the tokens issued
    (whole, and their signature part alone)."""
    found = {WRONG_PASSWORD, basic_value("hangar", WRONG_PASSWORD)}
    for registry in registries:
        found |= {registry.password, basic_value(registry.username, registry.password)}
    for issuer in issuers:
        for token in issuer.issued:
            found |= {token, token.rsplit(".", 1)[1]}
    return found


def assert_nothing_leaks(secrets, outputs):
    for name, text in outputs.items():
        for secret in secrets:
            assert secret not in text, "a secret (%s...) leaks in %s" % (secret[:6], name)


def first_try_fails(method, path, occurrence):
    """FaultProxy script: the first try of every manifest read answers 503, of every blob read is cut
    half way, of every blob upload is cut half way; retries pass."""
    if occurrence:
        return None
    if method == "GET" and "/manifests/" in path:
        return "503"
    if method == "GET" and "/blobs/sha256:" in path:
        return "reset-response"
    if method in ("PUT", "PATCH") and "/blobs/uploads/" in path:
        return "reset-request"
    return None


@pytest.fixture
def token_registry_of_ours(registry_factory):
    """A token-auth registry whose issuer records the tokens it hands out."""
    return registry_factory(auth="token", token_issuer=RecordingTokenIssuer())


@pytest.fixture
def pushed(basic_registry, token_registry_of_ours, client_for, image_factory, unique_repo):
    """One image in the Basic-auth registry and one in the token registry: (repo, TestImage) each."""
    basic_repo, token_repo = unique_repo("secret"), unique_repo("secret")
    basic_image, token_image = image_factory.docker_image(), image_factory.oci_index(attestations=False)
    basic_image.push(client_for(basic_registry), basic_repo, "1.0")
    token_image.push(client_for(token_registry_of_ours), token_repo, "1.0")
    return (basic_repo, basic_image), (token_repo, token_image)


def test_no_secret_in_results_failed_files_warnings_exceptions_or_logs(basic_registry, token_registry_of_ours,
                                                                       pushed, tmp_path):
    token_registry = token_registry_of_ours
    (basic_repo, _unused), (token_repo, _unused) = pushed
    outputs = {}
    basic = dict(username=basic_registry.username, password=basic_registry.password)
    token = dict(username=token_registry.username, password=token_registry.password)

    # Module runs with failures provoked: a missing image next to a good one, wrong passwords.
    runs = {
        "mirror basic->token": ("hangar_mirror", dict(
            images=["%s/%s:1.0" % (basic_registry.host, basic_repo), "%s/absent/image:1.0" % basic_registry.host],
            registry=token_registry.host, project="copies", source_username=basic["username"],
            source_password=basic["password"], tls_verify=False, source_tls_verify=False, **token)),
        "save from token": ("hangar_save", dict(
            images=["%s/%s:1.0" % (token_registry.host, token_repo), "%s/absent/image:1.0" % token_registry.host],
            archive=str(tmp_path / "images.zip"), tls_verify=False, source_username=token["username"],
            source_password=token["password"])),
        "load with a wrong Basic password": ("hangar_load", dict(
            archive=str(tmp_path / "images.zip"), registry=basic_registry.host, username="hangar",
            password=WRONG_PASSWORD, tls_verify=False, **ALL_PLATFORMS)),
        "save with a wrong token password": ("hangar_save", dict(
            images=["%s/%s:1.0" % (token_registry.host, token_repo)], archive=str(tmp_path / "other.zip"),
            source_username="hangar", source_password=WRONG_PASSWORD, tls_verify=False)),
        "validate with a missing image": ("hangar_validate", dict(
            images=["%s/%s:1.0" % (token_registry.host, token_repo), "%s/absent/image:1.0" % token_registry.host],
            registry=basic_registry.host, source_username=token["username"], source_password=token["password"],
            tls_verify=False, source_tls_verify=False, **basic)),
    }
    # With Ansible's debug on (as ANSIBLE_DEBUG=1 turns it on), so that every module.debug line is produced
    # and read here, through fault proxies so that the transport's and the engine's retry lines, which
    # carry exception text, are among them.
    basic_front = FaultProxy(basic_registry.host, script=first_try_fails).start()
    token_front = FaultProxy(token_registry.host, script=first_try_fails).start()
    try:
        runs["mirror through faults, basic->token"] = ("hangar_mirror", dict(
            images=["%s/%s:1.0" % (basic_front.host, basic_repo), "%s/absent/image:1.0" % basic_front.host],
            registry=token_front.host, project="faulted", source_username=basic["username"],
            source_password=basic["password"], tls_verify=False, source_tls_verify=False, **token))
        debug_lines = []
        for name, (module, args) in runs.items():
            failed_file = tmp_path / ("%s.failed.txt" % name.replace(" ", "-").replace(">", "").replace(",", ""))
            log = []
            result = run_module(module, dict(args, failed_file=str(failed_file)), debug_log=log)
            assert result.get("failed") is True, "%s was meant to fail: %s" % (name, result["msg"])
            outputs[name] = json.dumps(result)
            outputs["debug log " + name] = "\n".join(log)
            debug_lines += log
            if failed_file.exists():
                outputs[name + " failed_file"] = failed_file.read_text()
    finally:
        basic_front.stop()
        token_front.stop()
    retry_lines = [line for line in debug_lines if line.startswith("[debug] Retrying ")]
    assert retry_lines, "no retry was logged by the modules: the debug log test proves nothing"
    assert any(" after: " in line for line in retry_lines), "no whole-blob retry line (with exception text)"
    assert basic_front.faults["503"] and basic_front.faults["reset-response"], basic_front.faults
    assert token_front.faults["reset-request"], token_front.faults
    assert any("failed_file" in name for name in outputs), "no failed_file was written"
    # The wrong passwords were really sent and refused: the one message each failure produces.
    refused = {name: json.loads(outputs[name])["images"][0]["error"]
               for name in ("load with a wrong Basic password", "save with a wrong token password")}
    assert refused["load with a wrong Basic password"] == (
        "Error checking manifest %s/%s:1.0: Unauthorized (HTTP 401); %s refused the credentials of hangar"
        % (basic_registry.host, token_repo, basic_registry.host)), refused
    assert refused["save with a wrong token password"] == (
        "Error authenticating to %s (token server %s): the token server refused the credentials of hangar (HTTP 401)"
        % (token_registry.host, urlsplit(token_registry.token_server.realm).netloc)), refused

    # The library directly, through a proxy that fails requests so that retries are logged too.
    with FaultProxy(basic_registry.host, seed=3, fail_rate=0.3) as proxy:
        for name, password in (("basic", basic_registry.password), ("basic wrong", WRONG_PASSWORD)):
            log = []
            client = RegistryClient(proxy.host, username="hangar", password=password, tls_verify=False,
                                    log=log.append)
            outputs["repr " + name] = repr(client) + repr(client.__dict__.get("_auth"))
            for repository, reference in ((basic_repo, "1.0"), ("absent", "1")):
                try:
                    client.get_manifest(repository, reference)
                except HangarError as exc:
                    outputs["exception %s %s" % (name, repository)] = "".join(traceback.format_exception(exc)) \
                        + repr(exc.args)
            client.close()
            outputs["log " + name] = "\n".join(log)
    assert any(line for name, line in outputs.items() if name.startswith("log ")), "no retry was logged"

    assert_nothing_leaks(secrets_of(basic_registry, token_registry, issuers=[token_registry.token_issuer]), outputs)
    assert token_registry.token_issuer.issued, "the token registry issued no token"


PLAYBOOK = [{
    "name": "Provoke failures with credentials given",
    "hosts": "localhost",
    "gather_facts": False,
    "tasks": [
        {"name": "Mirror a good and a missing image between the two registries",
         "airgap.hangar.hangar_mirror": {
             "images": ["{{ basic_host }}/{{ basic_repo }}:1.0", "{{ basic_host }}/absent/image:1.0"],
             "registry": "{{ token_host }}", "project": "playbook", "username": "{{ token_user }}",
             "password": "{{ token_password }}", "source_username": "{{ basic_user }}",
             "source_password": "{{ basic_password }}", "tls_verify": False, "source_tls_verify": False,
             "failed_file": "{{ work }}/mirror-failed.txt"},
         "ignore_errors": True},
        {"name": "Save with the credentials from ansible-playbook's environment, as AWX injects them",
         "airgap.hangar.hangar_save": {
             "images": ["{{ token_host }}/{{ token_repo }}:1.0", "{{ token_host }}/absent/image:1.0"],
             "archive": "{{ work }}/images.zip", "tls_verify": False},
         "ignore_errors": True},
        {"name": "Load with a wrong password",
         "airgap.hangar.hangar_load": {
             "archive": "{{ work }}/images.zip", "registry": "{{ basic_host }}", "username": "hangar",
             "password": "{{ wrong_password }}", "tls_verify": False},
         "ignore_errors": True},
    ],
}]


def test_no_secret_in_ansible_playbook_vvvv_debug_output_or_module_logs(
        basic_registry, token_registry_of_ours, pushed, tmp_path):
    token_registry = token_registry_of_ours
    (basic_repo, _unused), (token_repo, _unused) = pushed
    basic_front = FaultProxy(basic_registry.host, script=first_try_fails).start()
    token_front = FaultProxy(token_registry.host, script=first_try_fails).start()
    (tmp_path / "playbook.yml").write_text(yaml.safe_dump(PLAYBOOK, sort_keys=False))
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": local_host()}}}))
    (tmp_path / "vars.json").write_text(json.dumps(dict(
        basic_host=basic_front.host, basic_repo=basic_repo, basic_user=basic_registry.username,
        basic_password=basic_registry.password, token_host=token_front.host, token_repo=token_repo,
        token_user=token_registry.username, token_password=token_registry.password, wrong_password=WRONG_PASSWORD,
        work=str(tmp_path))))
    module_log = tmp_path / "module.log"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH), ANSIBLE_HOME=str(tmp_path / "ansible"),
               ANSIBLE_NOCOLOR="true", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_STDOUT_CALLBACK="default",
               PATH="%s:%s" % (BIN_DIR, os.environ.get("PATH", "")),
               HANGAR_REGISTRY_USERNAME=token_registry.username, HANGAR_REGISTRY_PASSWORD=token_registry.password,
               # Ansible's debug on: the controller prints its debug lines and the modules log their debug
               # lines to syslog, which the sitecustomize of tests/support/module_log copies to a file.
               ANSIBLE_DEBUG="1", HANGAR_TEST_MODULE_LOG=str(module_log),
               PYTHONPATH=os.pathsep.join(filter(None, [str(MODULE_LOG_SHIM), os.environ.get("PYTHONPATH")])))

    try:
        finished = subprocess.run([str(BIN_DIR / "ansible-playbook"), "-vvvv", "-i", str(tmp_path / "inventory.yml"),
                                   "-e", "@%s" % (tmp_path / "vars.json"), str(tmp_path / "playbook.yml")],
                                  cwd=tmp_path, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  check=False, timeout=PLAYBOOK_TIMEOUT)
    finally:
        basic_front.stop()
        token_front.stop()

    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output[-3000:]
    assert "ignored=3" in output, output[-3000:]
    assert "absent/image" in output and "401" in output
    logged = module_log.read_text()
    assert "[debug] " in logged, "the modules logged no debug line"
    assert "Retrying " in logged, "no retry line was logged: run the playbook against a faulty registry"
    # ANSIBLE_DEBUG makes the controller echo each task's arguments as given ("_execute_module (name, {...})"),
    # no_log ones included: that is ansible-core's own debug output of our input, not something we produce.
    ours = "\n".join(line for line in output.splitlines() if "_execute_module (" not in line)
    outputs = {"ansible-playbook -vvvv with ANSIBLE_DEBUG": ours, "modules' syslog lines": logged,
               "mirror failed_file": (tmp_path / "mirror-failed.txt").read_text()}
    assert_nothing_leaks(secrets_of(basic_registry, token_registry, issuers=[token_registry.token_issuer]), outputs)


# -- redirects to blob storage


def blob_storage(blobs):
    """A ScriptedServer serving blobs by digest at /blobs/<digest>, as an object store would."""

    def answer(request):
        digest = request.path.rsplit("/", 1)[-1]
        if digest in blobs:
            return 200, {"Content-Type": "application/octet-stream"}, blobs[digest]
        return 404, {"Content-Type": "text/plain"}, b"no such object\n"

    return ScriptedServer(answer)


@pytest.mark.parametrize("module", ["hangar_save", "hangar_mirror"])
@pytest.mark.parametrize("storage_host", ["localhost", "127.0.0.1"], ids=["other-host-name", "other-port"])
@pytest.mark.parametrize("auth", ["token", "basic"])
def test_credentials_never_follow_a_redirect_to_blob_storage(auth, storage_host, module, basic_registry,
                                                             token_registry_of_ours, pushed, registry_factory,
                                                             tmp_path):
    registry = token_registry_of_ours if auth == "token" else basic_registry
    repo, image = pushed[0] if auth == "basic" else pushed[1]
    with blob_storage(image.blobs) as storage, FaultProxy(registry.host, redirect=lambda method, path: (
            "http://%s:%d/blobs/%s" % (storage_host, storage.port, path.rsplit("/", 1)[-1])
            if method == "GET" and "/blobs/sha256:" in path else None)) as front:
        archive = str(tmp_path / "images.zip")

        if module == "hangar_save":
            args = dict(archive=archive, source_username=registry.username, source_password=registry.password)
        else:  # the mirror's source downloads: the source credentials, to a destination of its own
            args = dict(registry=registry_factory().host, source_username=registry.username,
                        source_password=registry.password, source_tls_verify=False)
        result = run_module(module, dict(args, images=["%s/%s:1.0" % (front.host, repo)], tls_verify=False,
                                         **ALL_PLATFORMS))

    assert result.get("failed") is not True, result["msg"]
    assert result["images"][0]["digest"] == image.digest
    assert {request.path.rsplit("/", 1)[-1] for request in storage.requests} == set(image.blobs)
    sent_to_storage = [request.headers for request in storage.requests]
    assert not [headers for headers in sent_to_storage if "authorization" in {name.lower() for name in headers}], \
        sent_to_storage
    scheme = "Bearer " if auth == "token" else "Basic "
    assert any(value.startswith(scheme) for r in front.requests for name, value in r.headers.items()
               if name.lower() == "authorization"), \
        "the registry itself never got credentials: the test proves nothing"


# -- TLS


def test_tls_is_verified_unless_turned_off_for_that_registry(tls_registry, client_for, image_factory, unique_repo):
    repo = unique_repo("tls")
    image = image_factory.docker_image()
    image.push(client_for(tls_registry), repo, "1.0")
    source = "%s/%s:1.0" % (tls_registry.host, repo)

    def mirror(project, **options):
        return run_module("hangar_mirror", dict(images=[source], registry=tls_registry.host, project=project,
                                                **options))

    verified_everywhere = mirror("a")
    source_off_only = mirror("b", source_tls_verify=False)
    with_ca = mirror("c", source_ca_path=tls_registry.ca_cert, ca_path=tls_registry.ca_cert)
    both_off = mirror("d", source_tls_verify=False, tls_verify=False)

    for failed in (verified_everywhere, source_off_only):
        assert failed["failed"] is True
        error = failed["images"][0]["error"]
        assert "TLS verification failed for %s" % tls_registry.host in error, error
        assert "ca_path" in error and "tls_verify: false" in error
    assert "Error fetching manifest %s" % source in verified_everywhere["images"][0]["error"]
    assert "Error checking manifest %s/b/" % tls_registry.host in source_off_only["images"][0]["error"]
    for passed in (with_ca, both_off):
        assert passed.get("failed") is not True, passed["msg"]
    for project in ("c", "d"):
        target = "%s/%s:1.0" % (project, repo.split("/", 1)[1])
        assert digest_of(skopeo.inspect_raw(target, tls_registry)) == image.digest
