"""The scenarios: what each tool does per timed run, with the untimed set-up and checks around it.

Every run of every variant starts from an empty destination (a fresh registry, or no output file),
with skopeo's blob-info cache deleted and `sync` done first. Scenarios with a rerun time the same
command again right after, on the destination the cold run filled (skopeo's cache kept): the
no-op case.
"""

import os
import shutil
from dataclasses import dataclass, field

from . import verify
from .ceiling import raw_read, raw_upload
from .cpu import CpuWatch
from .replay import replay_mirror
from .skopeo_tool import wipe_blob_info_cache
from .tasks import LoadTask, MirrorTask, SaveTask

SCENARIO_ORDER = ("mirror-small", "mirror-release", "mirror-big", "save-small", "save-big", "load-small", "load-big")
OVERHEAD = "overhead"  # not a scenario of tools against skopeo: the module's own cost in a playbook (overhead.py)
COLD = "cold"
RERUN = "rerun"
READ = "read"
CEILING = "raw PUT, then GET (ceiling)"
REPLAY = "minimal requests replayed (ceiling)"


@dataclass
class Variant:
    name: str
    run_once: object  # () -> {COLD: Sample, RERUN: Sample?}
    ours: bool


@dataclass
class Scenario:
    key: str           # "mirror-small"
    operation: str
    dataset: object
    variants: list
    reference: str     # the skopeo variant ratios are taken against
    rerun: bool
    notes: list = field(default_factory=list)


def timed(registries, run, cold):
    """One timed run; its sample also tells the registries' CPU seconds and the CPU seconds that
    other processes of the machine took meanwhile (other people's work skews a shared machine)."""
    if cold:
        wipe_blob_info_cache()
    os.sync()  # page-cache writeback otherwise lands in the middle of the next copy
    watch = CpuWatch(registries.pids()).start()
    sample = run()
    machine, registry = watch.stop()
    sample.details.update(registry_cpu_seconds=round(registry, 2),
                          other_cpu_seconds=round(max(0.0, machine - registry - sample.cpu_seconds), 2))
    return sample


def _cold_then_rerun(registries, run, check, rerun):
    samples = {COLD: timed(registries, run, cold=True)}
    check()
    if rerun:
        samples[RERUN] = timed(registries, run, cold=False)
    return samples


def mirror_scenario(bench, dataset, rerun, ours_tools, with_skopeo=True):
    def variant(tool):
        def run_once():
            destination = bench.registries.fresh_destination()
            task = MirrorTask(bench.registries.source.host, dataset.repositories, destination.host)
            return _cold_then_rerun(bench.registries, lambda: tool.mirror(task),
                                    lambda: verify.destination_tags(destination.host, dataset.top_digests), rerun)
        return Variant(tool.name, run_once, tool in ours_tools)

    tools = ours_tools + ([bench.skopeo_sync, bench.skopeo_xargs] if with_skopeo else [])
    variants = [variant(t) for t in tools]
    if dataset.name == "big" and with_skopeo and bench.ceiling_blob is not None:
        variants.append(ceiling_variant(bench))
    if dataset.name == "release" and with_skopeo:
        variants.append(replay_variant(bench, dataset))
    return Scenario("mirror-%s" % dataset.name, "mirror", dataset, variants, bench.skopeo_sync.name, rerun)


def ceiling_variant(bench):
    """The registry's own limit, timed in turn with the mirrors so that it sees the same machine load:
    one blob uploaded with a monolithic PUT into an empty registry, then read back with sha256."""
    data, digest = bench.ceiling_blob

    def run_once():
        destination = bench.registries.fresh_destination()
        upload = timed(bench.registries, lambda: raw_upload(destination.host, data, digest), cold=False)
        read = timed(bench.registries, lambda: raw_read(destination.host, digest, len(data)), cold=False)
        return {COLD: upload, READ: read}

    return Variant(CEILING, run_once, False)


def replay_variant(bench, dataset):
    """The release set mirrored with the minimal request sequence (replay.py), in turn with the tools."""
    def run_once():
        destination = bench.registries.fresh_destination()

        def replay():
            return replay_mirror(bench.registries.source.host, dataset.repositories, destination.host)

        sample = timed(bench.registries, replay, cold=True)
        verify.destination_tags(destination.host, dataset.top_digests)
        return {COLD: sample}

    return Variant(REPLAY, run_once, False)


def save_scenario(bench, dataset, rerun, ours_tools, with_skopeo=True):
    directory = os.path.join(bench.workdir, "save")

    def variant(tool, output, check):
        def run_once():
            _remove(output)
            os.makedirs(directory, exist_ok=True)
            task = SaveTask(bench.registries.source.host, dataset.repositories, output)
            return _cold_then_rerun(bench.registries, lambda: tool.save(task),
                                    lambda: check(output, dataset.repositories), rerun)
        return Variant(tool.name, run_once, tool in ours_tools)

    archive = os.path.join(directory, "%s.zip" % dataset.name)
    variants = [variant(t, archive, verify.hangar_archive) for t in ours_tools]
    if with_skopeo:
        variants.append(variant(bench.skopeo_copy, os.path.join(directory, "%s-oci-archives" % dataset.name),
                                verify.oci_archives))
    return Scenario("save-%s" % dataset.name, "save", dataset, variants, bench.skopeo_copy.name, rerun,
                    ["skopeo: one `skopeo copy --all` to `oci-archive:` per image, in sequence (a script's loop); "
                     "a rerun writes every archive again (no sync for archives)"])


def load_scenario(bench, dataset, rerun, ours_tools, with_skopeo=True):
    archive, layout = bench.load_sources[dataset.name]

    def variant(tool, source, same_digests):
        def run_once():
            destination = bench.registries.fresh_destination()
            task = LoadTask(source, dataset.repositories, destination.host)
            return _cold_then_rerun(
                bench.registries, lambda: tool.load(task),
                lambda: verify.destination_tags(destination.host, dataset.top_digests, same_digests), rerun)
        return Variant(tool.name, run_once, tool in ours_tools)

    variants = [variant(t, archive, True) for t in ours_tools]
    if with_skopeo:
        variants.append(variant(bench.skopeo_copy, layout, False))
    return Scenario("load-%s" % dataset.name, "load", dataset, variants, bench.skopeo_copy.name, rerun,
                    ["ours loads the archive our save wrote; skopeo loads an OCI layout that skopeo wrote from "
                     "the same images with `copy --all --format oci` (1.9's oci: cannot read Docker types), "
                     "one `skopeo copy --all` per image in sequence"])


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.unlink(path)


BUILDERS = {"mirror": mirror_scenario, "save": save_scenario, "load": load_scenario}
