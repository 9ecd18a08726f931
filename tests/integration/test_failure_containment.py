"""Every failure is a result, never a traceback (issue 11): a hostile or malformed manifest, a disk that fills
up, anything unexpected fails its own image with a message while the others go on; at the module edge a
last catch still gives the partial `images`, `failed_images`, `failed_file` and the traceback in `exception`.
Harbor answers that are not the JSON expected give a message naming the URL and status."""

import hashlib
import json
import os
import resource
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
from ansible.module_utils._internal import _traceback as ansible_traceback

from ansible_collections.airgap.hangar.plugins.module_utils._archive.reader import ArchiveReader
from ansible_collections.airgap.hangar.plugins.modules import hangar_save
from tests.support.image_sets import ALL_PLATFORMS
from tests.support.module_runner import run_module
from tests.support.scripted_server import ScriptedServer

REPO_ROOT = Path(__file__).resolve().parents[2]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

HOSTILE = {
    # A manifest nested 100000 deep: json.loads would raise RecursionError.
    "deep": (OCI_MANIFEST, b'{"schemaVersion":2,"mediaType":"%s","config":' % OCI_MANIFEST.encode()
             + b"[" * 100000 + b"]" * 100000 + b',"layers":[]}'),
    # An index whose entry has no digest: a KeyError deep in the engine.
    "nodigest": (OCI_INDEX, json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "size": 10, "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()),
    # Something that is not JSON at all, served as a manifest.
    "garbage": (OCI_MANIFEST, b"\x00\xffnot json{{{"),
    # An index whose entries are not objects.
    "wrongshape": (OCI_INDEX, json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                          "manifests": ["sha256:" + "a" * 64]}).encode()),
}


def hostile_registry():
    def answer(request):
        if request.path == "/v2/":
            return 200, {"Content-Type": "application/json"}, b"{}"
        for name, (media_type, body) in HOSTILE.items():
            if request.path.startswith("/v2/evil/%s/manifests/" % name):
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
                return 200, {"Content-Type": media_type, "Docker-Content-Digest": digest}, body
        return 404, {"Content-Type": "application/json"}, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no"}]}'

    return ScriptedServer(answer)


@pytest.fixture
def good_image(registry, client_for, image_factory, unique_repo):
    repo = unique_repo("contain")
    image = image_factory.docker_manifest_list(platforms=("linux/amd64", "linux/arm64/v8"))
    image.push(client_for(registry), repo, "1.0")
    return "%s/%s:1.0" % (registry.host, repo), image


def test_each_hostile_manifest_fails_only_its_own_image(good_image, tmp_path):
    reference, image = good_image
    failed_file = tmp_path / "failed.txt"
    archive = tmp_path / "images.zip"
    with hostile_registry() as evil:
        bad = ["%s/evil/%s:1" % (evil.host, name) for name in HOSTILE]
        result = run_module("hangar_save", dict(images=bad[:2] + [reference] + bad[2:], archive=str(archive),
                                                tls_verify=False, failed_file=str(failed_file), jobs=2,
                                                **ALL_PLATFORMS))

    assert result["failed"] is True
    statuses = {r["reference"]: r["status"] for r in result["images"]}
    assert statuses[reference] == "copied"
    assert sorted(result["failed_images"]) == sorted(bad)
    assert sorted(failed_file.read_text().split()) == sorted(bad)
    errors = {r["reference"].split("/")[-1].split(":")[0]: r["error"] for r in result["images"] if r.get("error")}
    assert "nested deeper than 64 levels" in errors["deep"], errors["deep"]
    assert "digest" in errors["nodigest"] and "Traceback" not in errors["nodigest"], errors["nodigest"]
    assert errors["garbage"] and errors["wrongshape"]
    for name, error in errors.items():
        assert error.startswith("Error ") or "unsupported" in error, (name, error)
    with ArchiveReader(str(archive)) as reader:
        assert [entry.index_digest for entry in reader.index.entries] == [image.digest]


def test_an_unexpected_error_at_the_module_edge_still_gives_the_results(good_image, tmp_path, monkeypatch):
    reference, _image = good_image
    failed_file = tmp_path / "failed.txt"

    def broken_commit(self):
        raise ZeroDivisionError("a bug in the writer")

    monkeypatch.setattr(hangar_save.ArchiveWriter, "commit", broken_commit)
    # Ansible reads _ansible_tracebacks_for once per process; the in-process runner must let it read ours.
    monkeypatch.setattr(ansible_traceback, "_module_tracebacks_enabled_events", None)
    # As ansible-playbook asks a module for tracebacks of errors (DISPLAY_TRACEBACK=error, or -vvv).
    result = run_module("hangar_save", dict(images=[reference], archive=str(tmp_path / "a.zip"), tls_verify=False,
                                            failed_file=str(failed_file), _ansible_tracebacks_for=["error"],
                                            **ALL_PLATFORMS))

    assert result["failed"] is True
    assert "unexpected ZeroDivisionError: a bug in the writer" in result["msg"]
    assert "Traceback" in json.dumps(result["exception"]) and "broken_commit" in json.dumps(result["exception"])
    assert [r["status"] for r in result["images"]] == ["failed"], "copied but never committed"
    assert result["failed_images"] == [reference]
    assert failed_file.read_text().split() == [reference]
    assert not (tmp_path / "a.zip").exists()


def run_with_file_size_limit(name, args, limit, workdir):
    """Run a module in a child whose files may not grow past `limit` bytes (RLIMIT_FSIZE: writes fail with
    EFBIG, as they fail with ENOSPC on a full disk)."""
    args_path = Path(workdir) / ("%s-%s.json" % (name, uuid.uuid4().hex[:6]))
    args_path.write_text(json.dumps({"args": args, "check_mode": False}))

    def limit_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    finished = subprocess.run([sys.executable, "-m", "tests.support.module_process", name, str(args_path)],
                              cwd=str(REPO_ROOT), capture_output=True, preexec_fn=limit_files, timeout=120,
                              env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"), check=False)
    output = finished.stdout.decode("utf-8", "replace")
    assert "{" in output, finished.stderr.decode("utf-8", "replace")[-2000:]
    return json.loads(output[output.index("{"):])


def test_a_full_disk_fails_the_save_with_the_archive_named_and_keeps_the_old_one(
        registry, client_for, image_factory, unique_repo, tmp_path):
    small_repo, big_repo = unique_repo("disk"), unique_repo("disk")
    image_factory.docker_image().push(client_for(registry), small_repo, "1.0")
    big = image_factory.docker_image(layer_sizes=(3 * 1024 * 1024,))
    big.push(client_for(registry), big_repo, "1.0")
    archive = tmp_path / "images.zip"
    first = run_module("hangar_save", dict(images=["%s/%s:1.0" % (registry.host, small_repo)], archive=str(archive),
                                           tls_verify=False, **ALL_PLATFORMS))
    assert first["changed"] is True, first["msg"]
    before = archive.read_bytes()
    failed_file = tmp_path / "failed.txt"
    references = ["%s/%s:1.0" % (registry.host, repo) for repo in (small_repo, big_repo)]

    result = run_with_file_size_limit("hangar_save", dict(
        images=references, archive=str(archive), tls_verify=False, failed_file=str(failed_file), **ALL_PLATFORMS),
        limit=len(before) + 512 * 1024, workdir=tmp_path)

    assert result["failed"] is True
    big_result = result["images"][1]
    assert big_result["status"] == "failed"
    assert "Error writing archive %s" % archive in big_result["error"], big_result["error"]
    assert "File too large" in big_result["error"] and "bytes free in %s" % tmp_path in big_result["error"]
    assert "copied" not in [r["status"] for r in result["images"]]
    assert archive.read_bytes() == before, "the previous archive changed"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".images.zip")) == []


# -- Harbor answers that are not JSON, or not the JSON expected


def fake_harbor(project_answer):
    def answer(request):
        if request.path == "/api/v2.0/ping":
            return 200, {"Content-Type": "text/plain"}, b"Pong"
        return project_answer(request)

    return ScriptedServer(answer)


@pytest.mark.parametrize("kind, answer, expected", [
    ("html login page", (200, {"Content-Type": "text/html"}, b"<html><body>Sign in</body></html>"),
     "with text/html: '<html><body>Sign in</body></html>' where a JSON object was expected"),
    ("a list", (200, {"Content-Type": "application/json"}, b"[1, 2]"), "where a JSON object was expected"),
    ("garbage", (200, {"Content-Type": "application/json"}, b"\x00\x01{{{"), "where a JSON object was expected"),
], ids=["html", "list", "garbage"])
def test_harbor_answers_of_the_wrong_shape_give_a_message(kind, answer, expected):
    with fake_harbor(lambda request: answer) as harbor:
        result = run_module("hangar_harbor_project", dict(harbor_url=harbor.url, name="team", username="admin",
                                                          password="Harbor12345"))

    assert result["failed"] is True, kind
    assert "exception" not in result or "Traceback" not in result.get("msg", "")
    assert "Error reading Harbor project team on %s" % harbor.url in result["msg"], result["msg"]
    assert "HTTP 200" in result["msg"] and "/api/v2.0/projects/team" in result["msg"]
    assert expected in result["msg"], result["msg"]


def test_a_malformed_index_entry_fails_only_that_entry(registry, registry_factory, client_for, image_factory,
                                                       unique_repo, tmp_path):
    repos = [unique_repo("index"), unique_repo("index")]
    images = [image_factory.docker_image(), image_factory.docker_image()]
    for repo, image in zip(repos, images):
        image.push(client_for(registry), repo, "1.0")
    archive = tmp_path / "images.zip"
    saved = run_module("hangar_save", dict(images=["%s/%s:1.0" % (registry.host, repo) for repo in repos],
                                           archive=str(archive), tls_verify=False, **ALL_PLATFORMS))
    assert saved["changed"] is True, saved["msg"]
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(broken, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "index.json":
                index = json.loads(data)
                index["list"][1]["images"] = "not a list"
                data = json.dumps(index).encode()
            target.writestr(info, data)
    destination = registry_factory()

    loaded = run_module("hangar_load", dict(archive=str(broken), registry=destination.host, tls_verify=False,
                                            **ALL_PLATFORMS))

    assert loaded["failed"] is True
    assert [r["status"] for r in loaded["images"]] == ["copied", "failed"]
    error = loaded["images"][1]["error"]
    assert "Error loading entry 1 of archive %s" % broken in error and "images must be a list" in error, error
    # The saves ran in parallel: entry 1 is whichever image the archive listed second.
    kept = 0 if loaded["images"][0]["source"].endswith(repos[0]) else 1
    assert client_for(destination).head_manifest(repos[kept], "1.0")["digest"] == images[kept].digest
    assert client_for(destination).head_manifest(repos[1 - kept], "1.0") is None
