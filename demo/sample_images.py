"""Fill the demo's "public" registry with small multi-arch sample images, one for each line of an image list."""

from ansible_collections.airgap.hangar.plugins.module_utils._image.image_list import read_image_list
from tests.support.image_factory import ImageFactory

# Kinds of image to make, taken in turn: an OCI index with attestations, a Docker manifest list, a plain OCI index.
# Each has exactly amd64 and arm64, the platforms the demo carries, so every tag keeps its digest across the gap.
PLATFORMS = ("linux/amd64", "linux/arm64/v8")
KINDS = (
    lambda factory: factory.oci_index(platforms=PLATFORMS, attestations=True),
    lambda factory: factory.docker_manifest_list(platforms=PLATFORMS),
    lambda factory: factory.oci_index(platforms=PLATFORMS, attestations=False),
)


def push_sample_images(client, image_list):
    """Push one sample image for each reference of `image_list` (its repository and tag, any registry dropped);
    return {"repository:tag": digest}."""
    factory = ImageFactory(seed="airgap.hangar demo")
    pushed = {}
    for number, entry in enumerate(read_image_list(image_list)):
        image = KINDS[number % len(KINDS)](factory)
        ref = entry.source
        pushed["%s:%s" % (ref.repository, ref.tag)] = image.push(client, ref.repository, ref.tag)
    return pushed
