"""Valid container images made from random data, deterministic per seed, and pushed with our client.

    factory = ImageFactory(seed="my-test")
    image = factory.oci_index(attestations=True)        # or docker_image(), manifest_list(), ...
    image.push(client, "team/app", "1.0")                 # blobs, children by digest, top by tag
    image.digest, image.media_type, image.data            # the top manifest
    image.manifests                                       # Manifest objects, children first, top last
    image.blobs                                           # digest -> bytes (configs and layers)
    image.platforms                                       # Platform of each platform manifest

Layers are gzip'd tars holding one file of random bytes, so the configs' rootfs.diff_ids are
right. For big layers (benchmarks) pass streamed_layers=True: each layer is then raw random bytes
made in chunks on demand (`image.streamed_blobs`, digest -> RandomBlob), never held in memory.
"""

import base64
import gzip
import hashlib
import io
import json
import tarfile

from ansible_collections.airgap.hangar.plugins.module_utils._image.digest import sha256_digest
from ansible_collections.airgap.hangar.plugins.module_utils._image.manifest import Manifest
from ansible_collections.airgap.hangar.plugins.module_utils._image.media_types import (
    DOCKER_CONFIG,
    DOCKER_FOREIGN_LAYER,
    DOCKER_LAYER,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V1,
    DOCKER_MANIFEST_V1_SIGNED,
    DOCKER_MANIFEST_V2,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
)
from ansible_collections.airgap.hangar.plugins.module_utils._image.platform import (
    ATTESTATION_TYPE,
    REFERENCE_DIGEST_ANNOTATION,
    REFERENCE_TYPE_ANNOTATION,
    Platform,
)

from .certificates import make_private_key
from .token_auth import base64url, libtrust_key_id, sign_es256

KiB = 1024
MiB = 1024 * KiB
DEFAULT_LAYER_SIZES = (8 * KiB, 48 * KiB)
RANDOM_CHUNK_SIZE = MiB
CREATED = "2024-01-01T00:00:00Z"

DOCKER_LAYER_UNCOMPRESSED = "application/vnd.docker.image.rootfs.diff.tar"
OCI_LAYER_UNCOMPRESSED = "application/vnd.oci.image.layer.v1.tar"
OCI_FOREIGN_LAYER = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
IN_TOTO_LAYER = "application/vnd.in-toto+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
# Foreign layers are never fetched by anything under test; the address is loopback all the same.
FOREIGN_URL = "http://127.0.0.1:9/foreign/%s.tar.gz"

LINUX_AMD64 = Platform(os="linux", architecture="amd64")
WINDOWS_VERSIONS = ("10.0.17763.5329", "10.0.20348.2227")


def parse_platform(spec):
    """A Platform from "os/arch[/variant]", or the Platform itself."""
    if isinstance(spec, Platform):
        return spec
    parts = spec.split("/")
    return Platform(os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) > 2 else "")


def _json(document, indent=None):
    if indent is None:
        return json.dumps(document, separators=(",", ":")).encode("utf-8")
    return json.dumps(document, indent=indent).encode("utf-8")


class RandomBlob:
    """`size` random bytes, the same for the same seed, made chunk by chunk when read."""

    def __init__(self, seed, size, chunk_size=RANDOM_CHUNK_SIZE):
        self.seed = seed
        self.size = size
        self.chunk_size = chunk_size
        self._digest = None

    def chunks(self):
        for index, offset in enumerate(range(0, self.size, self.chunk_size)):
            length = min(self.chunk_size, self.size - offset)
            yield hashlib.shake_128(("%s:%d" % (self.seed, index)).encode()).digest(length)

    @property
    def digest(self):
        if self._digest is None:
            hasher = hashlib.sha256()
            for chunk in self.chunks():
                hasher.update(chunk)
            self._digest = "sha256:" + hasher.hexdigest()
        return self._digest


class Layer:
    """A layer: gzip'd tar bytes in memory (`data`) or a RandomBlob (`stream`, uncompressed)."""

    def __init__(self, data=None, diff_id=None, stream=None):
        self.data = data
        self.stream = stream
        if stream is not None:
            self.digest, self.size, self.diff_id = stream.digest, stream.size, stream.digest
        else:
            self.digest, self.size, self.diff_id = sha256_digest(data), len(data), diff_id

    def descriptor(self, oci, foreign=False):
        if foreign:
            media_type = OCI_FOREIGN_LAYER if oci else DOCKER_FOREIGN_LAYER
            return {"mediaType": media_type, "size": self.size, "digest": self.digest,
                    "urls": [FOREIGN_URL % self.digest[7:]]}
        if self.stream is not None:
            media_type = OCI_LAYER_UNCOMPRESSED if oci else DOCKER_LAYER_UNCOMPRESSED
        else:
            media_type = OCI_LAYER if oci else DOCKER_LAYER
        return {"mediaType": media_type, "size": self.size, "digest": self.digest}


class TestImage:
    """An image (single or list) with everything needed to push it and to check a copy of it."""

    __test__ = False  # not a pytest test class

    def __init__(self, manifests, blobs, streamed_blobs=None, foreign_blobs=None, platforms=()):
        self.manifests = list(manifests)
        self.blobs = dict(blobs)
        self.streamed_blobs = dict(streamed_blobs or {})
        self.foreign_blobs = dict(foreign_blobs or {})
        self.platforms = list(platforms)

    @property
    def top(self):
        return self.manifests[-1]

    @property
    def children(self):
        return self.manifests[:-1]

    @property
    def digest(self):
        return self.top.digest

    @property
    def media_type(self):
        return self.top.media_type

    @property
    def data(self):
        return self.top.data

    @property
    def blob_digests(self):
        """Every blob a registry must hold for this image (foreign layers excluded)."""
        return set(self.blobs) | set(self.streamed_blobs)

    def push(self, client, repository, tag, chunk_size=None):
        """Push blobs the repository lacks, then the children by digest, then the top by tag;
        returns the digest the registry answered for the top manifest."""
        for digest, data in self.blobs.items():
            if not client.blob_exists(repository, digest):
                client.push_blob(repository, digest, len(data), io.BytesIO(data), chunk_size=chunk_size)
        for digest, blob in self.streamed_blobs.items():
            if not client.blob_exists(repository, digest):
                client.push_blob(repository, digest, blob.size, blob.chunks(), chunk_size=chunk_size)
        for manifest in self.children:
            client.put_manifest(repository, manifest.digest, manifest.data, manifest.media_type)
        return client.put_manifest(repository, tag, self.top.data, self.top.media_type)

    @classmethod
    def combined(cls, top_manifest, parts, platforms):
        """A list image: `parts` (TestImages) are its children, `top_manifest` the list itself."""
        manifests, blobs, streamed, foreign = [], {}, {}, {}
        for part in parts:
            manifests.extend(part.manifests)
            blobs.update(part.blobs)
            streamed.update(part.streamed_blobs)
            foreign.update(part.foreign_blobs)
        return cls(manifests + [top_manifest], blobs, streamed, foreign, platforms)


class ImageFactory:
    """Builds TestImages; the same seed and the same calls in the same order give the same bytes."""

    def __init__(self, seed="hangar"):
        self.seed = str(seed)
        self._counter = 0

    def _next_seed(self, what):
        self._counter += 1
        return "%s/%s/%d" % (self.seed, what, self._counter)

    # -- layers

    def layer(self, size=DEFAULT_LAYER_SIZES[0]):
        """A gzip'd tar holding one file of `size` random bytes."""
        seed = self._next_seed("layer")
        content = RandomBlob(seed, size)
        tar_bytes = io.BytesIO()
        with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("data/%s.bin" % hashlib.sha256(seed.encode()).hexdigest()[:16])
            info.size, info.mtime, info.mode = size, 0, 0o644
            tar.addfile(info, io.BytesIO(b"".join(content.chunks())))
        tar_data = tar_bytes.getvalue()
        return Layer(gzip.compress(tar_data, compresslevel=1, mtime=0), diff_id=sha256_digest(tar_data))

    def streamed_layer(self, size):
        """Raw random bytes of `size`, generated on demand (for big layers)."""
        return Layer(stream=RandomBlob(self._next_seed("stream"), size))

    def base_layers(self, sizes=DEFAULT_LAYER_SIZES):
        """Layers to share between images: pass them as `base=` to the image builders."""
        return [self.layer(size) for size in sizes]

    # -- single images

    def image(self, platform=LINUX_AMD64, oci=False, layer_sizes=DEFAULT_LAYER_SIZES, base=(),
              streamed_layers=False, foreign_layers=0, labels=None):
        """One platform image (Docker schema 2, or OCI with oci=True) on top of `base` layers.

        foreign_layers adds that many layers with `urls` whose blobs are not pushed (kept in
        `foreign_blobs` for checks).
        """
        platform = parse_platform(platform)
        make_layer = self.streamed_layer if streamed_layers else self.layer
        own_layers = [make_layer(size) for size in layer_sizes]
        foreign = [self.layer() for _unused in range(foreign_layers)]
        layers = foreign + list(base) + own_layers
        config_data = _json(self._config(platform, layers, labels))
        config_descriptor = {"mediaType": OCI_CONFIG if oci else DOCKER_CONFIG, "size": len(config_data),
                             "digest": sha256_digest(config_data)}
        layer_descriptors = [layer.descriptor(oci, foreign=layer in foreign) for layer in layers]
        if oci:
            document = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_descriptor,
                        "layers": layer_descriptors}
            data = _json(document)
        else:
            document = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_V2, "config": config_descriptor,
                        "layers": layer_descriptors}
            data = _json(document, indent=3)
        blobs = {config_descriptor["digest"]: config_data}
        blobs.update((layer.digest, layer.data) for layer in layers if layer.stream is None and layer not in foreign)
        streamed = {layer.digest: layer.stream for layer in layers if layer.stream is not None}
        return TestImage([Manifest.from_bytes(data)], blobs, streamed, {layer.digest: layer.data for layer in foreign},
                         [platform])

    def docker_image(self, platform=LINUX_AMD64, **options):
        return self.image(platform, oci=False, **options)

    def oci_image(self, platform=LINUX_AMD64, **options):
        return self.image(platform, oci=True, **options)

    def foreign_layer_image(self, platform=LINUX_AMD64, oci=False, **options):
        """An image whose first layer is foreign (`urls`, blob absent); needs a registry that allows it."""
        return self.image(platform, oci=oci, foreign_layers=1, **options)

    def _config(self, platform, layers, labels):
        config = {"architecture": platform.architecture, "os": platform.os}
        if platform.variant:
            config["variant"] = platform.variant
        if platform.os_version:
            config["os.version"] = platform.os_version
        if platform.os_features:
            config["os.features"] = list(platform.os_features)
        config.update({
            "created": CREATED,
            "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["/bin/app"],
                       "Labels": dict(labels or {}, **{"org.example.seed": self._next_seed("config")})},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            "history": [{"created": CREATED, "created_by": "ADD layer %d" % index} for index in range(len(layers))],
        })
        return config

    # -- lists

    def manifest_list(self, platforms=("linux/amd64", "linux/arm64/v8", "linux/arm/v7"), oci=False,
                      attestations=False, omit_from_entries=(), **options):
        """A Docker manifest list (or an OCI index with oci=True) of one image per platform; with
        attestations=True each platform gets a BuildKit-style attestation manifest entry.

        omit_from_entries names platform fields ("os.version", "os.features", "variant") left out
        of the list's entries while the configs keep them, as some real lists do.
        """
        parts, entries, platform_list = [], [], []
        for spec in platforms:
            platform = parse_platform(spec)
            part = self.image(platform, oci=oci, **options)
            parts.append(part)
            platform_list.append(platform)
            entry_platform = {key: value for key, value in platform.to_dict().items() if key not in omit_from_entries}
            entries.append(part.top.descriptor(platform=entry_platform))
        if attestations:
            for part in list(parts):
                attestation = self.attestation(part.top)
                parts.append(attestation)
                entries.append(attestation.top.descriptor(
                    annotations={REFERENCE_TYPE_ANNOTATION: ATTESTATION_TYPE,
                                 REFERENCE_DIGEST_ANNOTATION: part.top.digest},
                    platform={"architecture": "unknown", "os": "unknown"}))
        if oci:
            data = _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        else:
            data = _json({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": entries}, indent=3)
        return TestImage.combined(Manifest.from_bytes(data), parts, platform_list)

    def docker_manifest_list(self, platforms=("linux/amd64", "linux/arm64/v8", "linux/arm/v7"), **options):
        return self.manifest_list(platforms, oci=False, **options)

    def oci_index(self, platforms=("linux/amd64", "linux/arm64"), attestations=True, **options):
        return self.manifest_list(platforms, oci=True, attestations=attestations, **options)

    def windows_list(self, os_versions=WINDOWS_VERSIONS, oci=False, **options):
        """A list of linux/amd64 and one windows/amd64 image per `os.version`."""
        platforms = [LINUX_AMD64] + [Platform(os="windows", architecture="amd64", os_version=version)
                                     for version in os_versions]
        return self.manifest_list(platforms, oci=oci, **options)

    def attestation(self, subject):
        """A BuildKit-style attestation manifest (in-toto provenance) for the `subject` manifest."""
        statement = _json({
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "subject": [{"name": "pkg:docker/hangar-test", "digest": {"sha256": subject.digest[7:]}}],
            "predicate": {"builder": {"id": self._next_seed("builder")}},
        })
        statement_digest = sha256_digest(statement)
        config = _json({"architecture": "unknown", "os": "unknown", "config": {},
                        "rootfs": {"type": "layers", "diff_ids": [statement_digest]}})
        document = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
            "layers": [{"mediaType": IN_TOTO_LAYER, "digest": statement_digest, "size": len(statement),
                        "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}],
        }
        return TestImage([Manifest.from_bytes(_json(document))],
                         {sha256_digest(config): config, statement_digest: statement})

    # -- other kinds

    def helm_chart(self, name="hangar-chart", version="0.1.0"):
        """An OCI artifact as Helm pushes it: Helm config media type, one chart-content layer."""
        config = _json({"name": name, "version": version, "apiVersion": "v2", "description": self._next_seed("chart")})
        chart = self.layer(4 * KiB)
        document = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": HELM_CONFIG, "digest": sha256_digest(config), "size": len(config)},
            "layers": [{"mediaType": HELM_CHART_LAYER, "digest": chart.digest, "size": chart.size}],
            "annotations": {"org.opencontainers.image.title": name, "org.opencontainers.image.version": version},
        }
        return TestImage([Manifest.from_bytes(_json(document))],
                         {sha256_digest(config): config, chart.digest: chart.data})

    def schema1_image(self, signed=True, name="hangar/schema1", tag="latest", platform=LINUX_AMD64,
                      layer_sizes=DEFAULT_LAYER_SIZES):
        """A Docker schema 1 image (needs a registry with schema1 enabled to push).

        A signed one carries a libtrust JWS; its digest, as registries compute it, is that of the
        payload without the signatures, so `image.digest` differs from sha256(image.data).
        """
        platform = parse_platform(platform)
        layers = [self.layer(size) for size in layer_sizes]
        history, parent = [], ""
        for index, layer in enumerate(layers):
            layer_id = hashlib.sha256((parent + layer.digest).encode()).hexdigest()
            entry = {"id": layer_id, "created": CREATED,
                     "container_config": {"Cmd": ["/bin/sh -c #(nop) ADD layer %d" % index]}}
            if parent:
                entry["parent"] = parent
            if index == len(layers) - 1:
                entry.update({"architecture": platform.architecture, "os": platform.os,
                              "config": {"Cmd": ["/bin/app"], "Labels": {"org.example.seed": self._next_seed("v1")}}})
            history.append({"v1Compatibility": json.dumps(entry, separators=(",", ":"))})
            parent = layer_id
        payload = _json({
            "schemaVersion": 1, "name": name, "tag": tag, "architecture": platform.architecture,
            "fsLayers": [{"blobSum": layer.digest} for layer in reversed(layers)],
            "history": list(reversed(history)),
        }, indent=3)
        blobs = {layer.digest: layer.data for layer in layers}
        if not signed:
            return TestImage([Manifest.from_bytes(payload, DOCKER_MANIFEST_V1)], blobs, platforms=[platform])
        data = sign_schema1(payload)
        return TestImage([Manifest(data, DOCKER_MANIFEST_V1_SIGNED, sha256_digest(payload))], blobs,
                         platforms=[platform])


def sign_schema1(payload):
    """libtrust's "pretty signature": the payload with a `signatures` member holding one ES256 JWS."""
    key = make_private_key("EC")
    numbers = key.public_key().public_numbers()
    close = payload.rstrip().rfind(b"}")
    format_length = len(payload[:close].rstrip())
    format_tail = payload[format_length:]
    protected = base64url(_json({"formatLength": format_length, "formatTail": base64url(format_tail),
                                 "time": CREATED}))
    signing_input = ("%s.%s" % (protected, base64url(payload))).encode("ascii")
    signature = {
        "header": {"jwk": {"crv": "P-256", "kid": libtrust_key_id(key.public_key()), "kty": "EC",
                           "x": base64url(numbers.x.to_bytes(32, "big")),
                           "y": base64url(numbers.y.to_bytes(32, "big"))},
                   "alg": "ES256"},
        "signature": base64url(sign_es256(key, signing_input)),
        "protected": protected,
    }
    signatures = json.dumps([signature], indent=3).replace("\n", "\n   ").encode("utf-8")
    return payload[:format_length] + b',\n   "signatures": ' + signatures + format_tail


def schema1_payload(data):
    """The signed payload of a libtrust-signed schema 1 manifest (what its digest is taken over).

    Registries re-sign schema 1 manifests when serving them, so only the payload is stable.
    """
    protected = json.loads(data)["signatures"][0]["protected"]
    header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
    tail = header["formatTail"]
    return data[:header["formatLength"]] + base64.urlsafe_b64decode(tail + "=" * (-len(tail) % 4))
