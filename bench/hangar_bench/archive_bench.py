"""Archive scenarios: index parse of 20,000 entries, and the cost of adding one small image to a big archive.

    .venv/bin/python bench/run.py --only archive-index,archive-append [--quick]

- `archive-index`: an index of 20,000 entries (2 platforms of 3 layers each) as index.json bytes;
  timed: `ArchiveIndex.from_json` (target < 1 s), and `to_json` for information.
- `archive-append`: a big archive (1.5 GB; 200 MB with --quick) written once with ArchiveWriter
  from random blobs, outside the timing; one small image (10 MB) in a local registry. Timed, with
  hangar_save called in this process (module_runner, interpreter start-up excluded in both):
  saving the image alone into a new archive, and saving it into a copy of the big archive (the
  copy is made before the timing). Target: update / alone <= 1.3. Extra disk during the update:
  the largest growth of the archive's folder seen by a sampler thread, against the new data
  (target: <= the new data plus the index).
"""

import contextlib
import json
import os
import shutil
import statistics
import threading
import time

MB = 1000 * 1000
INDEX_ENTRIES = 20000
SMALL_IMAGE_MB = 10


def _digest(number, kind):
    import hashlib

    return "sha256:" + hashlib.sha256(b"%s %d" % (kind.encode(), number)).hexdigest()


def index_document(entries=INDEX_ENTRIES):
    """A v1.2.0 index.json of `entries` entries, as bytes."""
    listed = []
    for number in range(entries):
        images = []
        for arch in ("amd64", "arm64"):
            images.append({"arch": arch, "os": "linux", "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "layers": [_digest(number * 10 + layer, arch) for layer in range(3)],
                           "config": _digest(number, "config-" + arch), "digest": _digest(number, "manifest-" + arch)})
        listed.append({"source": "registry.example.com/project/app-%d" % number, "tag": "v1",
                       "archList": ["amd64", "arm64"], "osList": ["linux"], "images": images,
                       "indexDigest": _digest(number, "index"),
                       "indexMediaType": "application/vnd.oci.image.index.v1+json"})
    return json.dumps({"list": listed, "version": "v1.2.0", "time": "2026-03-20T15:04:05+08:00"},
                      separators=(",", ":")).encode()


def run_index(runs, log):
    from ansible_collections.airgap.hangar.plugins.module_utils._archive.index import ArchiveIndex

    data = index_document()
    parse, dump, cpu = [], [], []
    for _run in range(max(runs, 3)):
        started, cpu_started = time.perf_counter(), time.process_time()
        index = ArchiveIndex.from_json(data)
        parse.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        started = time.perf_counter()
        index.to_json()
        dump.append(time.perf_counter() - started)
    assert len(index) == INDEX_ENTRIES
    log("archive-index: %d entries (%.1f MB of JSON): parse median %.2f s (best %.2f s, CPU %.2f s; target < 1 s), "
        "write %.2f s" % (INDEX_ENTRIES, len(data) / MB, statistics.median(parse), min(parse), min(cpu),
                          statistics.median(dump)))
    return {"entries": INDEX_ENTRIES, "json_mb": round(len(data) / MB, 1), "parse_s": statistics.median(parse),
            "parse_best_s": min(parse), "parse_cpu_s": min(cpu), "to_json_s": statistics.median(dump),
            "target_parse_s": 1.0}


class _RandomStream:
    def __init__(self, size, seed):
        import random

        self.left = size
        self.random = random.Random(seed)

    def read(self, size=1 << 20):
        size = min(size, self.left, 1 << 20)
        self.left -= size
        return self.random.randbytes(size)


def write_big_archive(path, total_mb, images=30):
    """An archive of `images` single-platform images, each one layer, `total_mb` in all."""
    import hashlib
    import random

    from ansible_collections.airgap.hangar.plugins.module_utils._archive.index import (
        ArchiveEntry,
        ArchivePlatformImage,
    )
    from ansible_collections.airgap.hangar.plugins.module_utils._archive.writer import ArchiveWriter
    from ansible_collections.airgap.hangar.plugins.module_utils._image.manifest import Manifest
    from ansible_collections.airgap.hangar.plugins.module_utils._image.platform import Platform

    layer_size = total_mb * MB // images
    with ArchiveWriter(path, reuse=False) as writer:
        for number in range(images):
            digest = hashlib.sha256()
            generator = random.Random(number)
            left = layer_size
            while left:
                chunk = generator.randbytes(min(left, 1 << 20))
                digest.update(chunk)
                left -= len(chunk)
            layer = "sha256:" + digest.hexdigest()
            writer.add_blob(layer, layer_size, _RandomStream(layer_size, number))
            config = json.dumps({"architecture": "amd64", "os": "linux", "n": number}).encode()
            config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
            writer.add_blob(config_digest, len(config), _Bytes(config))
            manifest = Manifest.from_bytes(json.dumps({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                           "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer,
                            "size": layer_size}]}).encode())
            writer.add_manifest(manifest)
            writer.put_entry(ArchiveEntry("bench.example.com/big/app-%d" % number, "1", [
                ArchivePlatformImage.for_manifest(manifest, Platform(os="linux", architecture="amd64"))],
                manifest.digest, manifest.media_type))
        writer.commit()


class _Bytes:
    def __init__(self, data):
        self.data = data

    def read(self, size=-1):
        data, self.data = self.data, b""
        return data


class _DiskSampler(threading.Thread):
    """The largest total size of the files in a folder, sampled every 10 ms."""

    def __init__(self, folder):
        super().__init__(daemon=True)
        self.folder = folder
        self.peak = self._size()
        self.stopped = threading.Event()

    def _size(self):
        total = 0
        for name in os.listdir(self.folder):
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(self.folder, name)).st_blocks * 512
        return total

    def run(self):
        while not self.stopped.wait(0.01):
            self.peak = max(self.peak, self._size())

    def stop(self):
        self.stopped.set()
        self.join()
        self.peak = max(self.peak, self._size())


def run_append(runs, quick, workdir, log):
    from tests.support.image_factory import ImageFactory
    from tests.support.module_runner import run_module
    from tests.support.registry import RegistryServer

    total_mb = 200 if quick else 1500
    big = os.path.join(workdir, "big.zip")
    started = time.perf_counter()
    write_big_archive(big, total_mb)
    log("archive-append: wrote a %d MB archive in %.1f s" % (os.path.getsize(big) // MB, time.perf_counter() - started))
    alone, update, extra, new_data = [], [], [], []
    runs = max(runs, 5)  # one small save is a fraction of a second: a few runs give a usable median
    with RegistryServer() as server:
        from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient

        image = ImageFactory(seed="archive-append").oci_image(layer_sizes=(SMALL_IMAGE_MB * MB,))
        client = RegistryClient(**server.client_kwargs())
        image.push(client, "small/app", "1")
        client.close()
        args = dict(images=["%s/small/app:1" % server.host], tls_verify=False, arch=[], os=[])
        for run in range(runs):
            folder = os.path.join(workdir, "alone-%d" % run)
            os.mkdir(folder)
            os.sync()
            started = time.perf_counter()
            result = run_module("hangar_save", dict(args, archive=os.path.join(folder, "a.zip")))
            alone.append(time.perf_counter() - started)
            assert result.get("failed") is not True, result["msg"]
            shutil.rmtree(folder)

            folder = os.path.join(workdir, "update-%d" % run)
            os.mkdir(folder)
            target = os.path.join(folder, "big.zip")
            shutil.copyfile(big, target)
            os.sync()  # the copy's dirty pages would be flushed by the update's fsync: not its cost
            before = os.path.getsize(target)
            sampler = _DiskSampler(folder)
            baseline = sampler.peak
            sampler.start()
            started = time.perf_counter()
            result = run_module("hangar_save", dict(args, archive=target))
            update.append(time.perf_counter() - started)
            sampler.stop()
            assert result.get("failed") is not True, result["msg"]
            extra.append(sampler.peak - baseline)
            new_data.append(os.path.getsize(target) - before)
            shutil.rmtree(folder)
    ratio = statistics.median(update) / statistics.median(alone)
    log("archive-append: %d runs: save alone %.2f s, into the %d MB archive %.2f s: ratio %.2f (target <= 1.3); "
        "extra disk %.1f MB for %.1f MB appended"
        % (runs, statistics.median(alone), total_mb, statistics.median(update), ratio, max(extra) / MB,
           max(new_data) / MB))
    return {"archive_mb": total_mb, "image_mb": SMALL_IMAGE_MB, "alone_s": statistics.median(alone),
            "update_s": statistics.median(update), "ratio": ratio, "target_ratio": 1.3,
            "extra_disk_mb": max(extra) / MB, "appended_mb": max(new_data) / MB}


def run(args, workdir, log):
    """The archive scenarios asked for in args.only; returns {scenario: figures}."""
    figures = {}
    if "archive-index" in args.only:
        figures["archive-index"] = run_index(args.runs, log)
    if "archive-append" in args.only:
        figures["archive-append"] = run_append(args.runs, args.quick, workdir, log)
    return figures
