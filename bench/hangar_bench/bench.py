"""One benchmark run: registries up, datasets pushed, every scenario (the ceiling with mirror big), memory probes."""

import itertools
import os
import time

from . import ceiling
from . import machine as machine_info
from .datasets import MB, big_dataset, push_dataset, release_dataset, small_dataset
from .ours_engine import DEFAULT_BLOB_JOBS, OursEngine
from .ours_module import OursModuleProcess
from .ours_playbook import OursPlaybook
from .overhead import measure_overhead
from .registries import Registries
from .report import Results
from .runner import run_alternating
from .scenarios import BUILDERS, COLD, OVERHEAD, SCENARIO_ORDER
from .skopeo_tool import SkopeoCopy, SkopeoSync, SkopeoXargsCopy, prepare_layout
from .tasks import SaveTask


class Bench:
    def __init__(self, args, workdir, profile_dir, log):
        self.args = args
        self.workdir = workdir
        self.log = log
        self.registries = Registries()
        if profile_dir:
            os.makedirs(profile_dir, exist_ok=True)
        serial = itertools.count(1)
        self.ours_engine = OursEngine(workdir, profile_dir, serial=serial)
        # --blob-jobs: the engine once more per pool size, in the mirror scenarios (the modules' own pool
        # is the plain engine's figure, not run twice)
        self.sweep_engines = [OursEngine(workdir, profile_dir, blob_jobs=size, serial=serial)
                              for size in getattr(args, "blob_jobs", []) if size != DEFAULT_BLOB_JOBS]
        self.ours_playbook = OursPlaybook(workdir)
        self.ours_module = OursModuleProcess(workdir)
        self.ours_tools = [self.ours_engine, self.ours_playbook]
        self.skopeo_sync = SkopeoSync(workdir)
        self.skopeo_xargs = SkopeoXargsCopy()
        self.skopeo_copy = SkopeoCopy()
        self.datasets = {}
        self.load_sources = {}  # dataset name -> (our archive, skopeo's OCI layout)
        self.ceiling_blob = None  # (bytes, digest) of the raw upload, when measured

    def __enter__(self):
        self.registries.start()
        return self

    def __exit__(self, *exc_info):
        self.registries.stop()

    def run(self):
        args = self.args
        started = time.monotonic()
        keys = [key for key in SCENARIO_ORDER if key in args.only]
        results = Results({"runs": args.runs, "quick": args.quick, "big_layer_bytes": args.big_mb * MB,
                           "scenarios": keys, "jobs": 4, "blob_jobs": DEFAULT_BLOB_JOBS,
                           "blob_jobs_sweep": list(getattr(args, "blob_jobs", []))}, machine_info.describe())
        self._build_datasets({key.split("-")[1] for key in keys}, results)
        if "mirror-big" in keys and not args.no_ceiling:
            self.ceiling_blob = ceiling.make_blob(args.big_mb * MB)
            results.ceiling_bytes = len(self.ceiling_blob[0])
        self._prepare_load_sources({key.split("-")[1] for key in keys if key.startswith("load-")}, results)
        for key in keys:
            operation, name = key.split("-")
            self.log("scenario %s" % key)
            tools = self.ours_tools + (self.sweep_engines if operation == "mirror" else [])
            scenario = BUILDERS[operation](self, self.datasets[name], name in ("small", "release"), tools)
            samples = run_alternating(scenario, args.runs, self.log, results.errors)
            results.scenarios[key] = (scenario, samples)
            self.registries.stop_destination()
            if name == "big":
                self._probe_memory(key, results)
        if OVERHEAD in args.only:
            self.log("overhead: one-task playbooks, hangar_mirror with nothing to do vs ansible.builtin.ping")
            results.overhead = measure_overhead(self.ours_playbook, max(5, args.runs), self.log)
        results.seconds_total = time.monotonic() - started
        results.load_average = (results.load_average[0], os.getloadavg()[0])
        return results

    def _probe_memory(self, key, results):
        """One run of the module as its own process, for its peak memory alone."""
        operation, name = key.split("-")
        probe = BUILDERS[operation](self, self.datasets[name], False, [self.ours_module], with_skopeo=False)
        try:
            results.memory_probes[key] = probe.variants[0].run_once()[COLD]
        except Exception as exc:  # as in run_alternating: keep the other figures
            results.errors.append("%s memory probe failed: %s" % (key, str(exc)[:4000]))
            self.log("  %s memory probe failed: %s" % (key, str(exc)[:1500]))
        else:
            self.log("  %s memory probe, module process: %.0f MB peak RSS"
                     % (key, results.memory_probes[key].max_rss_bytes / MB))
        self.registries.stop_destination()

    def _build_datasets(self, names, results):
        builders = {"small": small_dataset, "big": lambda: big_dataset(layer_size=self.args.big_mb * MB),
                    "release": lambda: release_dataset(count=self.args.release_images)}
        from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient

        with RegistryClient(self.registries.source.host, tls_verify=False) as client:
            for name in sorted(names, reverse=True):
                started = time.monotonic()
                dataset = self.datasets[name] = builders[name]()
                push_dataset(dataset, client)
                seconds = results.setup_seconds["dataset-" + name] = time.monotonic() - started
                results.datasets[name] = {"images": len(dataset.images), "blobs": dataset.blob_count,
                                          "bytes": dataset.total_bytes}
                self.log("dataset %s: %d images, %d blobs, %.0f MB, built and pushed in %.0f s"
                         % (name, len(dataset.images), dataset.blob_count, dataset.total_bytes / MB, seconds))

    def _prepare_load_sources(self, names, results):
        directory = os.path.join(self.workdir, "sources")
        os.makedirs(directory, exist_ok=True)
        source_host = self.registries.source.host
        for name in sorted(names, reverse=True):
            started = time.monotonic()
            dataset = self.datasets[name]
            archive = os.path.join(directory, "%s.zip" % name)
            layout = os.path.join(directory, "%s-layout" % name)
            self.ours_engine.save(SaveTask(source_host, dataset.repositories, archive))
            prepare_layout(source_host, dataset.repositories, layout)
            self.load_sources[name] = (archive, layout)
            seconds = results.setup_seconds["load-sources-" + name] = time.monotonic() - started
            self.log("load sources %s: archive and OCI layout written in %.0f s" % (name, seconds))
