"""Bad input, table-driven: each case must fail the task with a message naming the bad value,
never a traceback, and leave every file and every registry tag as it was."""

import hashlib
import json
import os
import socket
import uuid
from types import SimpleNamespace

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._image.manifest import Manifest
from tests.support import skopeo
from tests.support.go_zip import blob_entry, hangar_cli_entries, tampered, write_go_zip
from tests.support.image_factory import ImageFactory
from tests.support.module_runner import run_module
from tests.support.registry import RegistryServer
from tests.support.scripted_server import ScriptedServer

ALL_PLATFORMS = {"arch": [], "os": []}
BOMB_SIZE = 1 << 40
UNKNOWN_TYPE = "application/vnd.example.unknown.v1+json"
SOURCE = "docker.io/library/app"


def _html_page(request):
    return 200, {"Content-Type": "text/html; charset=utf-8"}, b"<html><body>Welcome to the intranet</body></html>"


def _other_service(request):
    return 404, {"Content-Type": "text/plain"}, b"404 page not found\n"


def _unknown_media_type_registry(request):
    if request.path == "/v2/":
        return 200, {"Content-Type": "application/json"}, b"{}"
    body = json.dumps({"schemaVersion": 2, "mediaType": UNKNOWN_TYPE}).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    return 200, {"Content-Type": UNKNOWN_TYPE, "Docker-Content-Digest": digest}, body


def _closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _unknown_type_image(image):
    """The image's manifest with its mediaType replaced by one nobody knows (its digest changes)."""
    document = json.loads(image.top.data)
    document["mediaType"] = UNKNOWN_TYPE
    data = json.dumps(document).encode()
    return [Manifest(data, UNKNOWN_TYPE, "sha256:" + hashlib.sha256(data).hexdigest())]


@pytest.fixture(scope="module")
def world(basic_registry, tls_registry):
    """A registry holding an image already in place, hand-made servers that are not registries, and
    the entries of a good Hangar archive to spoil."""
    from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient

    factory = ImageFactory(seed="bad-input")
    image = factory.docker_image()
    servers = [ScriptedServer(answer).start() for answer in (_html_page, _other_service,
                                                             _unknown_media_type_registry)]
    registry = RegistryServer().start()
    try:
        with RegistryClient(registry.host, tls_verify=False) as client:
            image.push(client, "keep/me", "1.0")
            image.push(client, "library/app", "1.0")
        entries, index = hangar_cli_entries([(SOURCE, "1.0", image.manifests)], image.blobs)
        yield SimpleNamespace(registry=registry, basic=basic_registry, tls=tls_registry, image=image,
                              entries=entries, index=index, html=servers[0], other=servers[1], unknown=servers[2])
    finally:
        registry.stop()
        for server in servers:
            server.stop()


def registry_state(registry):
    """Every tag of every repository with the digest it names."""
    from ansible_collections.airgap.hangar.plugins.module_utils._errors import NotFoundError
    from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient

    state = {}
    with RegistryClient(registry.host, tls_verify=False) as client:
        for repository in client.catalog():
            try:
                tags = client.list_tags(repository) or []
            except NotFoundError:
                continue
            for tag in tags:
                state["%s:%s" % (repository, tag)] = client.head_manifest(repository, tag)["digest"]
    return state


def files_state(directory):
    state = {}
    for root, _dirs, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as stream:
                state[path] = hashlib.sha256(stream.read()).hexdigest()
    return state


def good_archive(world, path):
    write_go_zip(str(path), world.entries)
    return str(path)


def spoiled_archive(world, path, entries=None, index=None, **options):
    entries = list(world.entries if entries is None else entries)
    if index is not None:
        entries = tampered(entries, "index.json", json.dumps(index, separators=(",", ":")).encode())
    write_go_zip(str(path), entries, **options)
    return str(path)


def load(world, archive, **extra):
    """hangar_load into a project of its own, where nothing is yet."""
    args = dict(archive=archive, registry=world.registry.host, project="loaded-" + uuid.uuid4().hex[:8],
                tls_verify=False, **ALL_PLATFORMS)
    return "hangar_load", dict(args, **extra)


def layer_of(world):
    return world.image.top.layers[-1]["digest"]


# -- the cases: each returns (module, args, texts the message must hold)

def malformed_reference(world, tmp):
    bad = "%s/Bad//name::tag" % world.registry.host
    return "hangar_save", dict(images=[bad], archive=good_archive(world, tmp / "kept.zip"), tls_verify=False), [bad]


def list_line_in_neither_format(world, tmp):
    path = tmp / "mirror-list.txt"
    path.write_text("# images\n%s/library/app:1.0\none two\n" % world.registry.host)
    return "hangar_mirror", dict(file=str(path), registry=world.registry.host, tls_verify=False), [
        str(path), "line 3", "one two"]


def missing_list_file(world, tmp):
    path = str(tmp / "no-such-list.txt")
    return "hangar_save", dict(file=path, archive=good_archive(world, tmp / "kept.zip"), tls_verify=False), [path]


def archive_not_a_zip(world, tmp):
    path = tmp / "notes.zip"
    path.write_text("these are my notes, not an archive\n" * 20)
    return (*load(world, str(path))[:2], [str(path), "not a zip"])


def truncated_zip(world, tmp):
    whole = good_archive(world, tmp / "whole.zip")
    with open(whole, "rb") as stream:
        data = stream.read()
    os.unlink(whole)
    path = tmp / "truncated.zip"
    path.write_bytes(data[:len(data) // 2])
    return (*load(world, str(path))[:2], [str(path), "truncated"])


def zip_without_index(world, tmp):
    entries = [(name, data) for name, data in world.entries if name != "index.json"]
    path = spoiled_archive(world, tmp / "no-index.zip", entries)
    return (*load(world, path)[:2], [path, "no index.json"])


def index_version_v1_1_0(world, tmp):
    path = spoiled_archive(world, tmp / "old.zip", index=dict(world.index, version="v1.1.0"))
    return (*load(world, path)[:2], [path, "v1.1.0"])


def index_version_empty(world, tmp):
    path = spoiled_archive(world, tmp / "unversioned.zip", index=dict(world.index, version=""))
    return (*load(world, path)[:2], [path, "no version"])


def index_names_missing_blobs(world, tmp):
    missing = blob_entry(layer_of(world))
    entries = [(name, data) for name, data in world.entries if name != missing]
    path = spoiled_archive(world, tmp / "missing-blob.zip", entries)
    return (*load(world, path)[:2], [missing])


def blob_not_matching_its_digest(world, tmp):
    name = blob_entry(layer_of(world))
    original = dict(world.entries)[name]
    path = spoiled_archive(world, tmp / "altered.zip", tampered(world.entries, name, b"\0" + original[1:]))
    return (*load(world, path)[:2], ["digest mismatch", layer_of(world)])


def zip_bomb_declared_index(world, tmp):
    path = spoiled_archive(world, tmp / "bomb-index.zip", declared_sizes={"index.json": BOMB_SIZE})
    return (*load(world, path)[:2], ["index.json", str(BOMB_SIZE)])


def zip_bomb_declared_layer(world, tmp):
    name = blob_entry(layer_of(world))
    path = spoiled_archive(world, tmp / "bomb-layer.zip", declared_sizes={name: BOMB_SIZE})
    return (*load(world, path)[:2], [name, str(BOMB_SIZE)])


def unknown_manifest_media_type_in_archive(world, tmp):
    entries, _unused = hangar_cli_entries([(SOURCE, "1.0", _unknown_type_image(world.image))], world.image.blobs)
    path = spoiled_archive(world, tmp / "unknown-type.zip", entries)
    return (*load(world, path)[:2], ['unsupported MIME type "%s"' % UNKNOWN_TYPE])


def unknown_manifest_media_type_in_registry(world, tmp):
    return "hangar_save", dict(images=["%s/team/thing:1" % world.unknown.host], archive=str(tmp / "new.zip"),
                               tls_verify=False), ['unsupported MIME type "%s"' % UNKNOWN_TYPE]


def registry_that_speaks_html(world, tmp):
    return "hangar_mirror", dict(images=["%s/library/app:1.0" % world.registry.host], registry=world.html.host,
                                 tls_verify=False, source_tls_verify=False), [world.html.host, "HTML"]


def wrong_port(world, tmp):
    return "hangar_save", dict(images=["%s/library/app:1.0" % world.other.host], archive=str(tmp / "new.zip"),
                               tls_verify=False), [world.other.host, "does not look like a registry"]


def closed_port(world, tmp):
    host = "127.0.0.1:%d" % _closed_port()
    return "hangar_mirror", dict(images=["%s/library/app:1.0" % world.registry.host], registry=host,
                                 tls_verify=False, source_tls_verify=False), [host, "onnection refused"]


def bad_credentials(world, tmp):
    args = dict(images=["%s/library/app:1.0" % world.registry.host], registry=world.basic.host,
                username=world.basic.username, password="not-" + world.basic.password, tls_verify=False,
                source_tls_verify=False)
    return "hangar_mirror", args, [world.basic.host, "401", "refused the credentials of %s" % world.basic.username]


def tls_verification_failure(world, tmp):
    return "hangar_mirror", dict(images=["%s/library/app:1.0" % world.registry.host], registry=world.tls.host,
                                 source_tls_verify=False), [world.tls.host, "ca_path", "tls_verify: false"]


def jobs_zero(world, tmp):
    return "hangar_mirror", dict(images=["%s/library/app:1.0" % world.registry.host], registry=world.registry.host,
                                 project="copies", jobs=0, tls_verify=False, source_tls_verify=False), ["jobs 0"]


def jobs_twenty_one(world, tmp):
    module, args, _unused = jobs_zero(world, tmp)
    return module, dict(args, jobs=21), ["jobs 21"]


def harbor_project_name_harbor_rejects(world, tmp):
    return "hangar_harbor_project", dict(harbor_url=world.html.url, name="Team_Images!"), ["'Team_Images!'"]


def destination_project_harbor_rejects(world, tmp):
    module, args = load(world, good_archive(world, tmp / "good.zip"), project="Team Images")
    return module, args, ["'Team Images'"]


def save_over_a_file_that_is_not_an_archive(world, tmp):
    path = tmp / "report.zip"
    path.write_text("quarterly report, not an archive\n")
    return "hangar_save", dict(images=["%s/library/app:1.0" % world.registry.host], archive=str(path),
                               tls_verify=False), [str(path), "force: true"]


CASES = [
    malformed_reference, list_line_in_neither_format, missing_list_file,
    archive_not_a_zip, truncated_zip, zip_without_index, index_version_v1_1_0, index_version_empty,
    index_names_missing_blobs, blob_not_matching_its_digest, zip_bomb_declared_index, zip_bomb_declared_layer,
    unknown_manifest_media_type_in_archive, unknown_manifest_media_type_in_registry,
    registry_that_speaks_html, wrong_port, closed_port, bad_credentials, tls_verification_failure,
    jobs_zero, jobs_twenty_one, harbor_project_name_harbor_rejects, destination_project_harbor_rejects,
    save_over_a_file_that_is_not_an_archive,
]


@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
def test_bad_input_fails_with_a_message_naming_it_and_changes_nothing(world, case, tmp_path):
    module, args, expected = case(world, tmp_path)
    registry_before, files_before = registry_state(world.registry), files_state(tmp_path)

    result = run_module(module, args)

    assert result.get("failed") is True, result
    for text in expected:
        assert text in result["msg"], "%r not in the message: %s" % (text, result["msg"])
    assert "Traceback" not in result["msg"] and "exception" not in result, result
    assert registry_state(world.registry) == registry_before
    assert files_state(tmp_path) == files_before
    if "password" in args:
        assert args["password"] not in json.dumps(result)


def test_entry_names_with_dot_dot_or_absolute_paths_are_ignored_and_never_stand_in_for_blobs(world, tmp_path):
    """The reader never extracts, so what a hostile name can do is shadow a real entry: names that only
    normalize to a blob or to index.json, with other bytes, must be ignored and the image loaded intact."""
    archive = str(tmp_path / "hostile.zip")
    real_blobs = [name for name, _data in world.entries if name.startswith("share/sha256/")]
    hex64 = real_blobs[0].rsplit("/", 1)[1]
    shadows = [(prefix + name, b"should never be read\n") for name in real_blobs
               for prefix in ("./", "/", "x/../", "share/../")]
    hostile = shadows + [("./index.json", b"{}"), ("../index.json", b"{}"), ("../escaped", b"x"),
                         ("/tmp/absolute", b"x"), ("share/sha256/../../" + hex64, b"x"), (hex64 + "/../../e", b"x")]
    write_go_zip(archive, hostile + list(world.entries) + hostile)
    module, args = load(world, archive, project="hostile")[:2]

    loaded = run_module(module, args)
    validated = run_module("hangar_validate", dict(archive=archive, registry=world.registry.host, project="hostile",
                                                   tls_verify=False, **ALL_PLATFORMS))

    assert loaded.get("failed") is not True, loaded["msg"]
    assert [image["status"] for image in loaded["images"]] == ["copied"]
    assert validated.get("failed") is not True, validated["msg"]
    assert [platform["digest"] for platform in loaded["images"][0]["platforms"]] == [world.image.digest]
    assert skopeo.blobs_via_dir("hostile/app:1.0", world.registry, str(tmp_path / "copy")) == world.image.blobs
