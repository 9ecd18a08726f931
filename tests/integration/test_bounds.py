"""Bounded in memory and time (issue 11): manifests are read with a 4 MiB cap (containers/image's), so an
endless manifest body is an error and not gigabytes of memory; `timeout` is a true deadline that a peer
trickling its answer cannot stretch, for an image (hangar_save) and for a Harbor task (hangar_harbor_project).
The servers misbehave on purpose; the assertions are on messages and on how much they managed to send."""

import json
import time

import pytest

from tests.support.image_sets import ALL_PLATFORMS
from tests.support.module_runner import run_module
from tests.support.token_auth import LoopbackHTTPServer, PlainHTTPHandler

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
TRICKLE_BODY = 2000  # bytes, one every TRICKLE_GAP seconds: far longer than any timeout below
TRICKLE_GAP = 0.25


class _Misbehaving(PlainHTTPHandler):
    def do_GET(self):
        owner = self.server.owner
        owner.requests.append(self.path)
        if self.path in ("/v2/", "/api/v2.0/ping"):
            body = b"{}" if self.path == "/v2/" else b"Pong"
            self.send_response(200)
            self.send_header("Content-Type", "application/json" if self.path == "/v2/" else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        behaviour = self.path.split("/")[2] if self.path.startswith("/v2/") else "trickle"
        self.send_response(200)
        self.send_header("Content-Type", OCI_MANIFEST if self.path.startswith("/v2/") else "application/json")
        if behaviour == "endless":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            piece = b'{"schemaVersion":2,"annotations":{"x":"' + b"x" * 65536
            try:
                while owner.sent < 1024 ** 3:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    owner.sent += len(piece)
                    piece = b"x" * 65536
            except OSError:
                return
        elif behaviour == "huge":
            self.send_header("Content-Length", str(5 * 1024 * 1024))
            self.end_headers()
            self.wfile.write(b"{")
        else:
            self.send_header("Content-Length", str(TRICKLE_BODY))
            self.end_headers()
            try:
                for _unused in range(TRICKLE_BODY):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    owner.sent += 1
                    time.sleep(TRICKLE_GAP)
            except OSError:
                return
        self.close_connection = True


class MisbehavingServer(LoopbackHTTPServer):
    def __init__(self):
        super().__init__(_Misbehaving)
        self.requests = []
        self.sent = 0

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port


@pytest.fixture
def server():
    misbehaving = MisbehavingServer()
    with misbehaving:
        yield misbehaving


def save(server, name, tmp_path, **options):
    return run_module("hangar_save", dict(dict(images=["%s/%s/app:1" % (server.host, name)],
                                               archive=str(tmp_path / ("%s.zip" % name)), tls_verify=False,
                                               **ALL_PLATFORMS), **options))


def test_an_endless_manifest_is_cut_at_4_mib(server, tmp_path):
    result = save(server, "endless", tmp_path)

    assert result["failed"] is True
    error = result["images"][0]["error"]
    assert "Error fetching manifest %s/endless/app:1" % server.host in error, error
    assert "larger than the 4 MiB allowed" in error, error
    assert server.sent < 64 * 1024 * 1024, "the client went on reading %d bytes" % server.sent


def test_a_manifest_announced_larger_than_4_mib_is_refused_before_reading(server, tmp_path):
    result = save(server, "huge", tmp_path)

    assert result["failed"] is True
    error = result["images"][0]["error"]
    assert "Error fetching manifest %s/huge/app:1" % server.host in error and "5 MiB" in error, error


def test_a_trickling_registry_cannot_hold_an_image_past_its_timeout(server, tmp_path):
    result = save(server, "trickle", tmp_path, timeout="2s")

    assert result["failed"] is True
    error = result["images"][0]["error"]
    assert "timed out after 2s (timeout)" in error, error
    assert server.sent < TRICKLE_BODY, "the whole trickled body was read: the deadline did not cut it"


def test_a_trickling_harbor_cannot_hold_the_task_past_its_timeout(server):
    result = run_module("hangar_harbor_project", dict(harbor_url=server.url, name="team", username="admin",
                                                      password="Harbor12345", timeout="2s"))

    assert result["failed"] is True
    assert "timed out after 2s (timeout)" in result["msg"], result["msg"]
    assert server.url in result["msg"]
    assert server.sent < TRICKLE_BODY
    assert "Harbor12345" not in json.dumps(result)


def test_other_images_go_on_while_one_trickles(server, registry, client_for, image_factory, unique_repo, tmp_path):
    repo = unique_repo("bounds")
    image = image_factory.docker_image()
    image.push(client_for(registry), repo, "1.0")

    result = run_module("hangar_save", dict(
        images=["%s/trickle/app:1" % server.host, "%s/%s:1.0" % (registry.host, repo)],
        archive=str(tmp_path / "mixed.zip"), tls_verify=False, timeout="2s", jobs=2, **ALL_PLATFORMS))

    assert [r["status"] for r in result["images"]] == ["failed", "copied"]
    assert result["images"][1]["digest"] == image.digest
