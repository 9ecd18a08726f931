"""A small set of multi-arch images for the reliability tests, and the checks of where copies landed.

    images = push_small_set(client, image_factory)          # {repository: TestImage}, tag SMALL_TAG
    assert_registry_holds(registry, images, "mirror/")      # every digest checked with skopeo
    assert_archive_holds(path, registry_host, images)       # layout, blobs verified, entries and digests
    assert_no_dangling_tags(client)                         # no tag names a manifest whose blobs are gone

Repository names are fixed, so tests that key faults on request paths get the same requests every
run; give each test its own registries (registry_factory) rather than the session ones.
"""

import hashlib

from ansible_collections.airgap.hangar.plugins.module_utils._archive.reader import ArchiveReader
from ansible_collections.airgap.hangar.plugins.module_utils._errors import NotFoundError

from . import skopeo
from .archive_checks import check_archive_layout

SMALL_TAG = "1.0"
SMALL_SET = ("small/app", "small/tool", "small/base", "small/team/web")
ALL_PLATFORMS = {"arch": [], "os": []}


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_small_set(factory):
    """Four images: an OCI index with attestations, a three-platform Docker list, a single Docker
    image, and an OCI index sharing base layers with the single image."""
    base = factory.base_layers()
    return {
        "small/app": factory.oci_index(),
        "small/tool": factory.docker_manifest_list(),
        "small/base": factory.docker_image(base=base),
        "small/team/web": factory.oci_index(attestations=False, base=base),
    }


def push_small_set(client, factory, names=SMALL_SET):
    images = {name: image for name, image in make_small_set(factory).items() if name in names}
    for repository, image in images.items():
        image.push(client, repository, SMALL_TAG)
    return images


def references(host, repositories, tag=SMALL_TAG):
    return ["%s/%s:%s" % (host, repository, tag) for repository in repositories]


def assert_registry_holds(registry, images, prefix="", tag=SMALL_TAG):
    """skopeo reads each image's tag and every child by digest, byte for byte, at `prefix + repository`."""
    for repository, image in images.items():
        target = prefix + repository
        raw = skopeo.inspect_raw("%s:%s" % (target, tag), registry)
        assert digest_of(raw) == image.digest, "%s:%s has digest %s, expected %s" % (
            target, tag, digest_of(raw), image.digest)
        for child in image.children:
            assert digest_of(skopeo.inspect_raw("%s@%s" % (target, child.digest), registry)) == child.digest


def assert_archive_holds(path, host, images, tag=SMALL_TAG):
    """The archive has the layout ARCHIVE.md asks for, every blob matches its digest, and each image
    is stored with its source's top-level digest and every platform digest."""
    check_archive_layout(path)
    with ArchiveReader(path) as reader:
        reader.verify(check_content=True)
        for repository, image in images.items():
            entry = reader.index.find("%s/%s" % (host, repository), tag)
            assert entry is not None, "%s/%s:%s is not in %s" % (host, repository, tag, path)
            assert entry.index_digest == image.digest
            expected = [m.digest for m in image.children] if image.top.is_index else [image.digest]
            assert sorted(i.digest for i in entry.images) == sorted(expected)


def archive_sources(path):
    """The `source:tag` of every entry of a readable archive."""
    with ArchiveReader(path) as reader:
        reader.verify(check_content=True)
        return sorted("%s:%s" % (entry.source, entry.tag) for entry in reader.index.entries)


def assert_no_dangling_tags(client):
    """Every tag of every repository names a manifest whose children and blobs all exist."""
    checked = 0
    for repository in client.catalog():
        try:
            tags = client.list_tags(repository) or []
        except NotFoundError:  # blobs uploaded, no manifest yet: the registry knows no tags there
            tags = []
        for tag in tags:
            top = client.get_manifest(repository, tag)
            manifests = [client.get_manifest(repository, child["digest"]) for child in top.children] \
                if top.is_index else [top]
            for manifest in manifests:
                for descriptor in [manifest.config] + manifest.layers:
                    if descriptor.get("digest") and not descriptor.get("urls"):
                        assert client.blob_exists(repository, descriptor["digest"]), \
                            "%s:%s names blob %s, which is missing" % (repository, tag, descriptor["digest"])
            checked += 1
    return checked
