"""The results as a Markdown table (ratios first) and a JSON file under bench/results/."""

import json
import os
import statistics
import time

from . import machine as machine_info
from .ours_engine import ENGINE_NAME, engine_name
from .runner import median_sample_of, median_seconds
from .scenarios import CEILING, COLD, READ, REPLAY, RERUN

MB = 1000 * 1000
ENGINE = ENGINE_NAME
PLAYBOOK = "ours (ansible-playbook)"
MODULE = "ours (module process)"

# (what, scenario, kind, limit[, judged on]): ours / skopeo medians must be at most `limit`; judged
# on the engine unless the target names the ansible-playbook figure (what users see).
RATIO_TARGETS = (
    ("mirror small, ours / skopeo sync", "mirror-small", COLD, 0.7),
    ("mirror release, ours / skopeo sync (judged on ansible-playbook)", "mirror-release", COLD, 0.5, PLAYBOOK),
    ("no-op rerun of mirror release, ours / skopeo re-sync (judged on ansible-playbook)", "mirror-release", RERUN,
     0.3, PLAYBOOK),
    ("mirror big, ours / skopeo sync", "mirror-big", COLD, 0.9),
    ("save small, ours / skopeo oci-archive", "save-small", COLD, 0.5),
    ("save big, ours / skopeo oci-archive", "save-big", COLD, 0.5),
    ("load small, ours / skopeo from oci layout", "load-small", COLD, 0.8),
    ("load big, ours / skopeo from oci layout", "load-big", COLD, 0.8),
    ("no-op rerun of mirror small, ours / skopeo re-sync", "mirror-small", RERUN, 0.5),
)
CEILING_SHARE_TARGET = 0.85
REPLAY_SHARE_TARGET = 0.8
OVERHEAD_TARGET_SECONDS = 0.15
MEMORY_TARGET_BYTES = 100 * MB


class Results:
    def __init__(self, config, machine):
        self.config = config
        self.machine = machine
        self.started = time.time()
        self.seconds_total = None
        self.datasets = {}
        self.setup_seconds = {}
        self.ceiling_bytes = 0  # size of the blob of the raw upload and read (mirror big's CEILING variant)
        self.scenarios = {}  # key -> (Scenario, {variant: {kind: [Sample]}})
        self.memory_probes = {}  # scenario key -> Sample
        self.overhead = None  # overhead.measure_overhead's figures, when measured
        self.load_average = (os.getloadavg()[0], None)
        self.errors = []  # runs that failed, as "scenario run i/n tool failed: why"

    # -- figures

    def _samples(self, key, variant, kind=COLD):
        if key not in self.scenarios:
            return []
        return self.scenarios[key][1].get(variant, {}).get(kind, [])

    def ratio(self, key, variant, kind):
        ours, theirs = self._samples(key, variant, kind), self._samples(key, self.scenarios[key][0].reference, kind)
        if not ours or not theirs:
            return None
        return median_seconds(ours) / median_seconds(theirs)

    def ceiling_share(self, variant=ENGINE):
        """Mirror big throughput of ours as a share of the raw upload's."""
        samples = self._samples("mirror-big", variant)
        if not samples or not self._samples("mirror-big", CEILING):
            return None
        ours = self.datasets["big"]["bytes"] / median_seconds(samples)
        return ours / self.ceiling_rate(COLD)

    def replay_share(self, variant):
        """Mirror release: the minimal requests' time over ours (ours' throughput as a share of it)."""
        samples, replay = self._samples("mirror-release", variant), self._samples("mirror-release", REPLAY)
        if not samples or not replay:
            return None
        return median_seconds(replay) / median_seconds(samples)

    def ceiling_rate(self, kind):
        """Bytes per second of the raw upload (COLD) or read (READ), medians."""
        return self.ceiling_bytes / median_seconds(self._samples("mirror-big", CEILING, kind))

    def peak_memory(self, variant):
        peaks = [s.max_rss_bytes for key in self.scenarios if key.endswith("-big")
                 for kinds in [self.scenarios[key][1].get(variant, {})] for s in kinds.get(COLD, [])]
        return max(peaks) if peaks else None

    # -- output

    def target_rows(self):
        rows = []
        for what, key, kind, limit, *judged in RATIO_TARGETS:
            if key not in self.scenarios:
                continue
            engine, playbook = self.ratio(key, ENGINE, kind), self.ratio(key, PLAYBOOK, kind)
            figure = playbook if judged == [PLAYBOOK] else engine
            rows.append({"target": what, "limit": "≤ %.2g" % limit, "engine": engine, "playbook": playbook,
                         "met": figure is not None and figure <= limit})
        replay = self.replay_share(PLAYBOOK)
        if replay is not None:
            rows.append({"target": "mirror release, ours / minimal requests replayed (throughput; judged on "
                                   "ansible-playbook)", "limit": "≥ %.2g" % REPLAY_SHARE_TARGET,
                         "engine": self.replay_share(ENGINE), "playbook": replay,
                         "met": replay >= REPLAY_SHARE_TARGET})
        share = self.ceiling_share()
        if share is not None:
            rows.append({"target": "mirror big, ours / raw upload ceiling (throughput)",
                         "limit": "≥ %.2g" % CEILING_SHARE_TARGET, "engine": share,
                         "playbook": self.ceiling_share(PLAYBOOK), "met": share >= CEILING_SHARE_TARGET})
        if self.overhead is not None:
            overhead = self.overhead["overhead"]
            rows.append({"target": "module overhead: one-task playbook of hangar_mirror with nothing to do minus "
                                   "one of ansible.builtin.ping (s)", "limit": "≤ %.2g s" % OVERHEAD_TARGET_SECONDS,
                         "engine": None, "playbook": overhead, "met": overhead <= OVERHEAD_TARGET_SECONDS})
        peak = self.peak_memory(ENGINE)
        if peak is not None:
            module_peaks = [s.max_rss_bytes for s in self.memory_probes.values()]
            rows.append({"target": "peak RSS moving big (MB; module: the module's own process)",
                         "limit": "≤ %d MB" % (MEMORY_TARGET_BYTES // MB), "engine": peak / MB,
                         "playbook": max(module_peaks) / MB if module_peaks else None,
                         "met": peak <= MEMORY_TARGET_BYTES, "unit": "MB"})
        return rows

    def as_dict(self):
        return {
            "machine": self.machine,
            "config": self.config,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "seconds_total": self.seconds_total,
            "load_average_start_end": self.load_average,
            "datasets": self.datasets,
            "setup_seconds": self.setup_seconds,
            "ceiling_blob_bytes": self.ceiling_bytes,
            "targets": self.target_rows(),
            "blob_pool_sweep": self.blob_pool_rows(),
            "scenarios": {key: {"operation": scenario.operation, "dataset": scenario.dataset.name,
                                "reference": scenario.reference, "notes": scenario.notes,
                                "variants": {name: {kind: [s.as_dict() for s in samples]
                                                    for kind, samples in kinds.items()}
                                             for name, kinds in variants.items()}}
                          for key, (scenario, variants) in self.scenarios.items()},
            "memory_probes": {key: sample.as_dict() for key, sample in self.memory_probes.items()},
            "overhead": self.overhead,
            "errors": self.errors,
        }

    def markdown(self):
        runs = self.config["runs"]
        datasets = "; ".join(_describe_dataset(name, d) for name, d in self.datasets.items())
        lines = ["## Benchmark: airgap.hangar against skopeo", "",
                 "Machine: %s." % machine_info.one_line(self.machine),
                 "Medians of %d run%s each, tools alternating, destination emptied and `sync` before every run; "
                 "datasets: %s." % (runs, "" if runs == 1 else "s", datasets),
                 "", "### Ratios (medians, ours / skopeo; lower is better)", "",
                 "| target | engine | ansible-playbook | target | met |", "|---|---|---|---|---|"]
        for row in self.target_rows():
            unit = row.get("unit")
            lines.append("| %s | %s | %s | %s | %s |" % (
                row["target"], _figure(row["engine"], unit), _figure(row["playbook"], unit), row["limit"],
                "yes" if row["met"] else "**no**"))
        lines += self._blob_pool_table()
        lines += ["", "### Times", "",
                  "| scenario | tool | median s | min–max s | MB/s | rerun median s | peak RSS MB | CPU s "
                  "| registries CPU s | others' CPU s | requests |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for key, (scenario, variants) in self.scenarios.items():
            for name, kinds in variants.items():
                size = self.ceiling_bytes if name == CEILING else self.datasets[scenario.dataset.name]["bytes"]
                cold = kinds.get(COLD, [])
                if not cold:
                    continue
                median = median_seconds(cold)
                rerun = kinds.get(RERUN)
                middle = median_sample_of(cold)
                peak = max(s.max_rss_bytes for s in cold)
                lines.append("| %s | %s | %.2f | %.2f–%.2f | %.0f | %s | %s | %.1f | %.1f | %.1f | %s |" % (
                    key, name, median, min(s.seconds for s in cold), max(s.seconds for s in cold), size / median / MB,
                    "%.2f" % median_seconds(rerun) if rerun else "–", "%.0f" % (peak / MB) if peak else "–",
                    statistics.median(s.cpu_seconds for s in cold), _median_detail(cold, "registry_cpu_seconds"),
                    _median_detail(cold, "other_cpu_seconds"), middle.details.get("requests", "–")))
        for key, sample in self.memory_probes.items():
            lines.append("| %s | %s (1 run, for memory) | %.2f | – | %.0f | – | %.0f | %.1f | %.1f | %.1f | – |" % (
                key, MODULE, sample.seconds, self.datasets[key.split("-")[1]]["bytes"] / sample.seconds / MB,
                sample.max_rss_bytes / MB, sample.cpu_seconds, sample.details.get("registry_cpu_seconds", 0),
                sample.details.get("other_cpu_seconds", 0)))
        lines += self._memory_table()
        if self._samples("mirror-big", CEILING):
            lines += ["", "Ceiling, timed in turn with mirror big: one %.0f MB blob, monolithic PUT into an empty "
                      "registry %.0f MB/s, streaming GET with sha256 %.0f MB/s (medians)."
                      % (self.ceiling_bytes / MB, self.ceiling_rate(COLD) / MB, self.ceiling_rate(READ) / MB)]
        if self.overhead is not None:
            figures = self.overhead
            lines += ["", "Overhead (medians of %d alternating runs): ansible.builtin.ping playbook %.2f s, "
                      "hangar_mirror with an empty list %.2f s; importing the module takes %.3f s, of which "
                      "ansible.module_utils.basic %.3f s (`python -X importtime`)."
                      % (figures["runs"], figures["ping"], figures["module"], figures["import_module"] or 0,
                         figures["import_basic"] or 0)]
            if figures.get("import_modules"):
                lines += ["", "Import of each module, Ansible's basic apart (medians): %s."
                          % ", ".join("%s %.3f s" % item for item in sorted(figures["import_modules"].items()))]
        if self._samples("mirror-release", REPLAY):
            replay = median_sample_of(self._samples("mirror-release", REPLAY))
            lines += ["", "Replayed minimum for mirror release: %s requests over %s connections (replay.py)."
                      % (replay.details.get("requests"), replay.details.get("connections"))]
        notes = [note for scenario, _unused in self.scenarios.values() for note in scenario.notes]
        if notes:
            lines += [""] + ["- " + note for note in dict.fromkeys(notes)]
        lines += ["- engine: the library called from Python in its own process (time of the copy, start-up "
                  "excluded); ansible-playbook: one task, whole command timed; peak RSS of ansible-playbook is the "
                  "largest of its processes (the controller's, usually).",
                  "- CPU s: the tool's processes; registries CPU s: both docker-registry processes; others' CPU s: "
                  "the rest of the machine meanwhile (load average %.1f at the start, %.1f at the end)."
                  % (self.load_average[0], self.load_average[1])]
        if self.errors:
            lines += ["", "### Failed runs (left out of the figures)", ""]
            lines += ["- " + error.splitlines()[0][:300] for error in self.errors]
        return "\n".join(lines) + "\n"

    def blob_pool_rows(self):
        """Per mirror scenario and pool size of --blob-jobs: the engine's median and its ratios to skopeo
        sync (cold, and rerun where the scenario has one) of the same run. The modules' own pool is the plain
        engine's figure."""
        rows = []
        for key in (k for k in self.scenarios if k.startswith("mirror-")):
            for size in self.config.get("blob_jobs_sweep") or []:
                name = ENGINE if size == self.config.get("blob_jobs") else engine_name(size)
                cold = self._samples(key, name)
                if not cold:
                    continue
                rows.append({"scenario": key, "blob_jobs": size, "median": median_seconds(cold),
                             "ratio": self.ratio(key, name, COLD), "rerun_ratio": self.ratio(key, name, RERUN)})
        return rows

    def _blob_pool_table(self):
        rows = self.blob_pool_rows()
        if not rows:
            return []
        lines = ["", "### Blob pool sweep (engine, `--blob-jobs`; ours / skopeo sync of the same run)", "",
                 "| scenario | blob_jobs | median s | ours / skopeo sync | rerun, ours / skopeo re-sync |",
                 "|---|---|---|---|---|"]
        for row in rows:
            lines.append("| %s | %d%s | %.2f | %s | %s |" % (
                row["scenario"], row["blob_jobs"],
                " (the modules')" if row["blob_jobs"] == self.config.get("blob_jobs") else "", row["median"],
                _figure(row["ratio"]), _figure(row["rerun_ratio"])))
        return lines

    def _memory_table(self):
        """Peak RSS of every tool moving the big set, per scenario (largest of its runs)."""
        keys = [key for key in self.scenarios if key.endswith("-big")]
        if not keys:
            return []
        peaks = {}
        for key in keys:
            for name, kinds in self.scenarios[key][1].items():
                runs = [s.max_rss_bytes for s in kinds.get(COLD, []) if s.max_rss_bytes]
                if runs:
                    peaks.setdefault(name, {})[key] = max(runs)
            if key in self.memory_probes:
                peaks.setdefault(MODULE, {})[key] = self.memory_probes[key].max_rss_bytes
        lines = ["", "### Peak memory moving the big set (MB, largest of the runs)", "",
                 "| tool | %s |" % " | ".join(keys), "|---|%s" % ("---|" * len(keys))]
        order = [ENGINE, MODULE, PLAYBOOK] + [name for name in peaks if name not in (ENGINE, MODULE, PLAYBOOK)]
        for name in (name for name in order if name in peaks):
            figures = ["%.0f" % (peaks[name][key] / MB) if key in peaks[name] else "–" for key in keys]
            lines.append("| %s | %s |" % (name, " | ".join(figures)))
        return lines

    def write(self, directory):
        os.makedirs(directory, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.started))
        markdown, data = self.markdown(), json.dumps(self.as_dict(), indent=1)
        paths = []
        for name in ("bench-%s" % stamp, "latest"):
            for suffix, content in ((".md", markdown), (".json", data)):
                path = os.path.join(directory, name + suffix)
                with open(path, "w") as stream:
                    stream.write(content)
                paths.append(path)
        return paths[:2]


def _median_detail(samples, name):
    return statistics.median(s.details.get(name, 0.0) for s in samples)


def _figure(value, unit=None):
    if value is None:
        return "–"
    return "%.0f" % value if unit == "MB" else "%.2f" % value


def _describe_dataset(name, dataset):
    return "%s %d images, %d blobs, %.0f MB" % (name, dataset["images"], dataset["blobs"], dataset["bytes"] / MB)
