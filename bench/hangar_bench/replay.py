"""The registry's limit for a release-sized mirror: the minimal request sequence, replayed with plain requests.

Per image: one GET per manifest at the source and one PUT per manifest at the destination
(children first, then the tag); per blob new to the destination one GET at the source, one POST
and one monolithic PUT at the destination; per blob the destination already has in another
repository one POST that mounts it. No HEADs, no retries, no verification beyond the registries'
own: nothing a careful copier could leave out. `connections` images are moved at a time, each
worker with its own keep-alive sessions.
"""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode, urljoin

import requests

from .tasks import TAG, Sample

ACCEPT = ", ".join((
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"))
CONNECTIONS = 8


class _Replay:
    def __init__(self, source_host, dest_host):
        self.source = "http://%s" % source_host
        self.dest = "http://%s" % dest_host
        self.local = threading.local()
        self.lock = threading.Lock()
        self.claimed = {}  # blob digest -> (repository it went to, threading.Event set when it is there)
        self.requests = 0

    def session(self):
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.trust_env = False
        return self.local.session

    def call(self, method, url, expect, **options):
        response = self.session().request(method, url, timeout=120, **options)
        with self.lock:
            self.requests += 1
        if response.status_code not in expect:
            raise RuntimeError("replay: %s %s answered %d" % (method, url, response.status_code))
        return response

    def manifest(self, repository, reference):
        response = self.call("GET", "%s/v2/%s/manifests/%s" % (self.source, repository, reference), (200,),
                             headers={"Accept": ACCEPT})
        return response.content, response.headers["Content-Type"]

    def blob(self, repository, digest):
        with self.lock:
            first = digest not in self.claimed
            if first:
                self.claimed[digest] = (repository, threading.Event())
            owner, ready = self.claimed[digest]
        if not first:
            ready.wait()
            if owner != repository:
                query = urlencode({"mount": digest, "from": owner})
                self.call("POST", "%s/v2/%s/blobs/uploads/?%s" % (self.dest, repository, query), (201,))
            return
        try:
            data = self.call("GET", "%s/v2/%s/blobs/%s" % (self.source, repository, digest), (200,)).content
            opened = self.call("POST", "%s/v2/%s/blobs/uploads/" % (self.dest, repository), (202,))
            location = urljoin(opened.url, opened.headers["Location"])
            location += ("&" if "?" in location else "?") + urlencode({"digest": digest})
            self.call("PUT", location, (201,), data=data, headers={"Content-Type": "application/octet-stream"})
        finally:
            ready.set()

    def image(self, repository):
        top, top_type = self.manifest(repository, TAG)
        document = json.loads(top)
        children = [(entry["digest"],) + self.manifest(repository, entry["digest"])
                    for entry in document.get("manifests", [])]
        for manifest in [document] if not children else [json.loads(data) for _digest, data, _type in children]:
            for descriptor in [manifest["config"]] + manifest["layers"]:
                self.blob(repository, descriptor["digest"])
        for digest, data, media_type in children:
            self.call("PUT", "%s/v2/%s/manifests/%s" % (self.dest, repository, digest), (201,), data=data,
                      headers={"Content-Type": media_type})
        self.call("PUT", "%s/v2/%s/manifests/%s" % (self.dest, repository, TAG), (201,), data=top,
                  headers={"Content-Type": top_type})


def replay_mirror(source_host, repositories, dest_host, connections=CONNECTIONS):
    """Mirror `repositories` (tag TAG) with the minimal request sequence; a Sample of the wall time."""
    replay = _Replay(source_host, dest_host)
    started, cpu = time.monotonic(), time.process_time()
    with ThreadPoolExecutor(max_workers=connections) as pool:
        list(pool.map(replay.image, repositories))
    seconds = time.monotonic() - started
    return Sample(seconds, seconds, 0, time.process_time() - cpu,
                  {"requests": replay.requests, "connections": connections})
