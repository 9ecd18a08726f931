"""Cheap checks that a timed run did its job (outside the timing): tags present with the right digests."""

import os

import requests

from .skopeo_tool import archive_name
from .tasks import TAG

ACCEPT = ", ".join((
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
))


def destination_tags(host, expected, same_digests=True):
    """Every repository:TAG exists at `host`; with same_digests, with the source's top-level digest."""
    problems = []
    with requests.Session() as session:
        for repository, digest in expected.items():
            response = session.head("http://%s/v2/%s/manifests/%s" % (host, repository, TAG),
                                    headers={"Accept": ACCEPT}, timeout=60)
            if response.status_code != 200:
                problems.append("%s: HTTP %d" % (repository, response.status_code))
            elif same_digests and response.headers.get("Docker-Content-Digest") != digest:
                problems.append("%s: digest %s, expected %s"
                                % (repository, response.headers.get("Docker-Content-Digest"), digest))
    if problems:
        raise RuntimeError("destination check failed: " + "; ".join(problems[:5]))


def oci_archives(directory, repositories):
    missing = [r for r in repositories if not os.path.isfile(os.path.join(directory, archive_name(r)))]
    if missing:
        raise RuntimeError("skopeo left no oci-archive for %s" % ", ".join(missing))


def hangar_archive(path, repositories):
    from ansible_collections.airgap.hangar.plugins.module_utils._archive.reader import ArchiveReader

    with ArchiveReader(path) as reader:
        names = {entry.source.split("/", 1)[1] for entry in reader.index.entries}
        reader.verify()
    missing = sorted(set(repositories) - names)
    if missing:
        raise RuntimeError("archive %s lacks %s" % (path, ", ".join(missing)))
