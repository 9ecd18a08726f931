"""Our engine, run from plain Python in a child process (hangar_bench.engine_child)."""

import json
import os
import sys

from .paths import BENCH_DIR, child_python_path, venv_tool
from .process import run_measured
from .tasks import Sample

JOBS = 4
# The modules' blob pool for JOBS image workers (_ansible_glue/copy_options.py: max(MIN_BLOB_JOBS, jobs)).
DEFAULT_BLOB_JOBS = max(8, JOBS)
ENGINE_NAME = "ours (engine)"


def engine_name(blob_jobs=None):
    """The variant name: the plain engine, or one point of the --blob-jobs sweep."""
    return ENGINE_NAME if blob_jobs is None else "ours (engine, blob_jobs %d)" % blob_jobs


class OursEngine:
    """The engine as the modules configure it; with blob_jobs, with that many blob workers instead."""

    def __init__(self, workdir, profile_dir=None, blob_jobs=None, serial=None):
        self.workdir = workdir
        self.profile_dir = profile_dir
        self.blob_jobs = blob_jobs
        self.name = engine_name(blob_jobs)
        self._serial = 0
        self._serials = serial  # shared with the other engines of a run, so spec files never collide

    def mirror(self, task):
        return self._run("mirror", {"images": task.source_references(), "registry": task.dest_host})

    def save(self, task):
        return self._run("save", {"images": task.source_references(), "archive": task.output})

    def load(self, task):
        return self._run("load", {"archive": task.source, "registry": task.dest_host})

    def _run(self, operation, spec, label=None):
        self._serial = next(self._serials) if self._serials is not None else self._serial + 1
        spec_path = os.path.join(self.workdir, "engine-%03d.json" % self._serial)
        if self.blob_jobs is not None:
            spec = dict(spec, blob_jobs=self.blob_jobs)
            label = label or "%s-blob%d" % (operation, self.blob_jobs)
        with open(spec_path, "w") as stream:
            json.dump(dict(spec, operation=operation, jobs=JOBS), stream)
        argv = [sys.executable, "-m", "hangar_bench.engine_child", spec_path]
        if self.profile_dir:
            # py-spy samples every thread (the engine's work is in its pools), idle ones too, so waits on
            # the network show; collapsed stacks: speedscope.app or flamegraph.pl draw them, and
            # `python -m hangar_bench.profile_summary FILE` lists where the time goes.
            output = os.path.join(self.profile_dir, "%s-%03d.txt" % (label or operation, self._serial))
            argv = [venv_tool("py-spy"), "record", "--rate", "200", "--idle", "--nonblocking", "--format", "raw",
                    "-o", output, "--"] + argv
        env = dict(os.environ, PYTHONPATH=child_python_path())
        measurement = run_measured(argv, env=env, cwd=str(BENCH_DIR)).check("engine %s" % operation)
        report = json.loads(next(line for line in reversed(measurement.stdout.splitlines()) if line.startswith("{")))
        return Sample.of_process(measurement, seconds=report.pop("seconds"), **report)
