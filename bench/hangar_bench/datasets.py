"""The two benchmark datasets, built with the test image factory and pushed to the source registry.

small: multi-arch images (linux/amd64 + linux/arm64/v8), 5 layers of 1 MiB random data per platform,
       the bottom 2 layers shared by every image and platform; the first 4 are Docker manifest
       lists, the others OCI indexes (no attestations).
release: the shape of a real release list (300 images; 60 with --quick): 1 or 2 platforms
       (every third image linux/amd64 only), 2 to 6 own layers of 50 to 500 KiB random data per
       platform over one shared base layer; every fourth a Docker manifest list, the others OCI
       indexes, the single-platform ones plain manifests.
big:   single-platform images (Docker schema 2), each one layer of random data (500 MB), streamed.
       The layer is gzip framing (stored blocks) around the random bytes: a valid gzip layer, as
       real layers are. skopeo gzips a layer it sees uncompressed when it writes to a registry or an
       OCI layout, which would time gzip rather than copying.
"""

import hashlib
import json
import random
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ansible_collections.airgap.hangar.plugins.module_utils._image.digest import sha256_digest
from ansible_collections.airgap.hangar.plugins.module_utils._image.manifest import Manifest
from ansible_collections.airgap.hangar.plugins.module_utils._image.media_types import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST_V2,
)
from tests.support.image_factory import LINUX_AMD64, ImageFactory, MiB, RandomBlob, TestImage

from .tasks import TAG

PLATFORMS = ("linux/amd64", "linux/arm64/v8")
MB = 1000 * 1000


@dataclass
class Dataset:
    name: str
    images: dict = field(default_factory=dict)  # repository -> TestImage

    @property
    def repositories(self):
        return list(self.images)

    def references(self, host):
        return ["%s/%s:%s" % (host, repository, TAG) for repository in self.images]

    @property
    def top_digests(self):
        return {repository: image.digest for repository, image in self.images.items()}

    @property
    def total_bytes(self):
        """Bytes a copy moves: every distinct blob once, plus the manifests."""
        blobs = {}
        for image in self.images.values():
            blobs.update((digest, len(data)) for digest, data in image.blobs.items())
            blobs.update((digest, blob.size) for digest, blob in image.streamed_blobs.items())
        manifests = {m.digest: len(m.data) for image in self.images.values() for m in image.manifests}
        return sum(blobs.values()) + sum(manifests.values())

    @property
    def blob_count(self):
        return len({d for image in self.images.values() for d in image.blob_digests})


def small_dataset(count=20, docker_lists=4, layers=5, shared_layers=2, layer_size=MiB, seed="bench-small"):
    factory = ImageFactory(seed=seed)
    base = factory.base_layers((layer_size,) * shared_layers)
    dataset = Dataset("small")
    for number in range(1, count + 1):
        build = factory.docker_manifest_list if number <= docker_lists else factory.oci_index
        options = {} if number <= docker_lists else {"attestations": False}
        dataset.images["small/img-%02d" % number] = build(
            platforms=PLATFORMS, base=base, layer_sizes=(layer_size,) * (layers - shared_layers), **options)
    return dataset


KiB = 1024


def release_dataset(count=300, seed="bench-release"):
    factory = ImageFactory(seed=seed)
    draw = random.Random(seed)
    base = factory.base_layers((200 * KiB,))
    dataset = Dataset("release")
    for number in range(1, count + 1):
        sizes = tuple(draw.randint(50, 500) * KiB for _unused in range(draw.randint(2, 6)))
        if number % 3 == 0:
            image = factory.image(LINUX_AMD64, oci=number % 2 == 0, base=base, layer_sizes=sizes)
        elif number % 4 == 0:
            image = factory.docker_manifest_list(platforms=PLATFORMS, base=base, layer_sizes=sizes)
        else:
            image = factory.oci_index(platforms=PLATFORMS, base=base, layer_sizes=sizes, attestations=False)
        dataset.images["release/app-%03d" % number] = image
    return dataset


class GzipRandomBlob:
    """RandomBlob's bytes in a gzip stream of stored (level 0) blocks, made chunk by chunk when read.
    `digest` and `size` take one pass over the data; `content_digest` is the uncompressed digest."""

    def __init__(self, seed, content_size):
        self.content = RandomBlob(seed, content_size)
        self._digest = self._size = None

    def chunks(self):
        compressor = zlib.compressobj(0, zlib.DEFLATED, 31)  # wbits 31: gzip header and trailer, mtime 0
        for chunk in self.content.chunks():
            yield compressor.compress(chunk)
        yield compressor.flush()

    def _measure(self):
        hasher, size = hashlib.sha256(), 0
        for chunk in self.chunks():
            hasher.update(chunk)
            size += len(chunk)
        self._digest, self._size = "sha256:" + hasher.hexdigest(), size

    @property
    def digest(self):
        if self._digest is None:
            self._measure()
        return self._digest

    @property
    def size(self):
        if self._size is None:
            self._measure()
        return self._size

    @property
    def content_digest(self):
        return self.content.digest


def big_image(seed, layer_size):
    """A linux/amd64 Docker schema 2 image of one streamed gzip layer."""
    layer = GzipRandomBlob(seed + "/layer", layer_size)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"seed": seed}},
                         "rootfs": {"type": "layers", "diff_ids": [layer.content_digest]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST_V2,
        "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": sha256_digest(config)},
        "layers": [{"mediaType": DOCKER_LAYER, "size": layer.size, "digest": layer.digest}],
    }, indent=3).encode()
    return TestImage([Manifest.from_bytes(manifest)], {sha256_digest(config): config}, {layer.digest: layer},
                     platforms=[LINUX_AMD64])


def big_dataset(count=3, layer_size=500 * MB, seed="bench-big"):
    dataset = Dataset("big")
    for number in range(1, count + 1):
        dataset.images["big/img-%d" % number] = big_image("%s/%d" % (seed, number), layer_size)
    return dataset


def push_dataset(dataset, client, jobs=4):
    """Push every image (blobs, children, then the tag); images in parallel."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(lambda item: item[1].push(client, item[0], TAG), dataset.images.items()))
