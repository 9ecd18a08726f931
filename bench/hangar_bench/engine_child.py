"""Run our copy engine from plain Python, as a script or role would: `python -m hangar_bench.engine_child SPEC`.

SPEC is a JSON file: {"operation": "mirror"|"save"|"load", "images": [...], "registry": host,
"archive": path, "jobs": 4, "blob_jobs": 8}; blob_jobs is optional (without it, the blob pool the
modules choose for `jobs`). Prints one JSON line: the engine's own seconds (imports and
interpreter start-up excluded), image counts, request counts and the blob pool used. Runs in its own process so its
peak memory can be measured alone.
"""

import json
import sys
import time
from collections import Counter
from dataclasses import replace

from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.copy_options import (
    copy_options as module_copy_options,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.module_options import (
    PLATFORM_OPTIONS,
    TRANSFER_OPTIONS,
)
from ansible_collections.airgap.hangar.plugins.module_utils._archive.reader import ArchiveReader
from ansible_collections.airgap.hangar.plugins.module_utils._archive.writer import ArchiveWriter
from ansible_collections.airgap.hangar.plugins.module_utils._copy.archive_store import ArchiveDestination, ArchiveSource
from ansible_collections.airgap.hangar.plugins.module_utils._copy.engine import CopyEngine, run_parallel
from ansible_collections.airgap.hangar.plugins.module_utils._copy.load_plan import plan_load
from ansible_collections.airgap.hangar.plugins.module_utils._copy.mirror_plan import plan_mirror
from ansible_collections.airgap.hangar.plugins.module_utils._copy.model import ImageResult
from ansible_collections.airgap.hangar.plugins.module_utils._copy.registry_store import RegistryStore, RegistryStorePool
from ansible_collections.airgap.hangar.plugins.module_utils._image.image_list import collect_entries
from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient


def copy_options(spec):
    """CopyOptions as the modules make them from their defaults and the spec's `jobs`; the blob pool the
    spec's `blob_jobs` when it has one."""
    params = {name: option.get("default") for name, option in dict(PLATFORM_OPTIONS, **TRANSFER_OPTIONS).items()}
    options = module_copy_options(dict(params, jobs=spec["jobs"]), check_mode=False)
    return options if spec.get("blob_jobs") is None else replace(options, blob_jobs=spec["blob_jobs"])


class Clients:
    """Makes RegistryClients as the modules do (plain HTTP here) and keeps them to count requests."""

    def __init__(self, jobs):
        self.jobs = jobs
        self.made = []

    def __call__(self, registry):
        client = RegistryClient(registry, tls_verify=False, pool_size=max(20, self.jobs * 4))
        self.made.append(client)
        return client

    @property
    def requests(self):
        return sum(client.stats.requests for client in self.made)


def mirror(spec):
    jobs = spec["jobs"]
    results = plan_mirror(spec["images"], registry=spec["registry"])
    clients = Clients(jobs)
    with RegistryStorePool(clients) as sources, RegistryStorePool(clients) as destinations, \
            CopyEngine(copy_options(spec)) as engine:
        run_parallel(results, lambda r: engine.copy_image(sources.store(r.source_ref.registry), r.source_ref,
                                                          destinations.store(r.dest_ref.registry), r.dest_ref, r), jobs)
    return results, clients.requests, None


def save(spec):
    jobs = spec["jobs"]
    entries = collect_entries(spec["images"], None)
    clients = Clients(jobs)
    with RegistryStorePool(clients) as sources, ArchiveWriter(spec["archive"]) as writer, \
            CopyEngine(copy_options(spec)) as engine:
        destination = ArchiveDestination(writer)
        results = [ImageResult(entry.source, spec["archive"], entry=entry) for entry in entries]
        run_parallel(results, lambda r: engine.copy_image(sources.store(r.source_ref.registry), r.source_ref,
                                                          destination, r.source_ref, r), jobs)
        changed = writer.commit()
    return results, clients.requests, changed


def load(spec):
    jobs = spec["jobs"]
    clients = Clients(jobs)
    with ArchiveReader(spec["archive"]) as reader, clients(spec["registry"]) as client, \
            CopyEngine(copy_options(spec)) as engine:
        results = plan_load(reader.index, client.registry)
        source, destination = ArchiveSource(reader), RegistryStore(client)
        run_parallel(results, lambda r: engine.copy_image(source, r.source_ref, destination, r.dest_ref, r), jobs)
    return results, clients.requests, None


OPERATIONS = {"mirror": mirror, "save": save, "load": load}


def main(spec_path):
    with open(spec_path) as stream:
        spec = json.load(stream)
    started = time.monotonic()
    results, requests, archive_changed = OPERATIONS[spec["operation"]](spec)
    seconds = time.monotonic() - started
    statuses = Counter(r.status for r in results)
    report = {
        "seconds": seconds,
        "statuses": dict(statuses),
        "errors": [r.error for r in results if r.error][:5],
        "bytes": sum(r.bytes_copied for r in results),
        "blobs_copied": sum(r.blobs_copied for r in results),
        "requests": requests,
        "blob_jobs": copy_options(spec).blob_jobs,
        "changed": archive_changed if archive_changed is not None else statuses.get("copied", 0) > 0,
    }
    print(json.dumps(report))
    return 1 if statuses.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
