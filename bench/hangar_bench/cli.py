"""`python bench/run.py [--quick] ...`: builds the datasets, runs every scenario, writes the report."""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

from .ours_engine import DEFAULT_BLOB_JOBS
from .paths import RESULTS_DIR, make_collection_importable
from .scenarios import OVERHEAD, SCENARIO_ORDER

ARCHIVE_SCENARIOS = ("archive-index", "archive-append")

MB = 1000 * 1000
MAX_BLOB_JOBS = 64
REQUIRED_COMMANDS = ("docker-registry", "skopeo", "xargs", "sh")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="for development: 1 run per tool and a 3 x 50 MB big set (unless --runs/--big-mb)")
    parser.add_argument("--runs", type=int, help="timed runs per tool and scenario (default 3; 1 with --quick)")
    parser.add_argument("--big-mb", type=int, help="each big image's layer in MB (default 500; 50 with --quick)")
    parser.add_argument("--release-images", type=int,
                        help="images in the release set (default 300; 60 with --quick)")
    parser.add_argument("--only", default=",".join(SCENARIO_ORDER + ARCHIVE_SCENARIOS + (OVERHEAD,)),
                        help="comma-separated scenarios to run, of: %s"
                        % ", ".join(SCENARIO_ORDER + ARCHIVE_SCENARIOS + (OVERHEAD,)))
    parser.add_argument("--blob-jobs", default="",
                        help="comma-separated blob pool sizes (e.g. 4,8,12): the engine also mirrors with each "
                        "(mirror-small, mirror-release, mirror-big), every figure a ratio to skopeo sync of the "
                        "same run; the modules' own pool (%d) is the plain engine's figure" % DEFAULT_BLOB_JOBS)
    parser.add_argument("--no-ceiling", action="store_true", help="skip the raw upload/read ceiling")
    parser.add_argument("--profile", action="store_true",
                        help="record a py-spy flame graph of every engine run into bench/results/profiles/")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (archives, layouts)")
    parser.add_argument("--results", default=str(RESULTS_DIR), help="where to write the report (%(default)s)")
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 3)
    args.big_mb = args.big_mb or (50 if args.quick else 500)
    args.release_images = args.release_images or (60 if args.quick else 300)
    args.only = [key.strip() for key in args.only.split(",") if key.strip()]
    args.blob_jobs = parse_blob_jobs(parser, args.blob_jobs)
    unknown = sorted(set(args.only) - set(SCENARIO_ORDER) - set(ARCHIVE_SCENARIOS) - {OVERHEAD})
    if unknown:
        parser.error("unknown scenarios: %s" % ", ".join(unknown))
    return args


def parse_blob_jobs(parser, text):
    """The sorted, distinct pool sizes of `--blob-jobs 4,8,12`; an error naming the bad value otherwise."""
    sizes = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if not item.isdigit() or not 1 <= int(item) <= MAX_BLOB_JOBS:
            parser.error("--blob-jobs: %r is not a pool size (expected whole numbers from 1 to %d, "
                         "comma-separated, e.g. 4,8,12)" % (item, MAX_BLOB_JOBS))
        sizes.append(int(item))
    return sorted(set(sizes))


def log(message):
    print(time.strftime("%H:%M:%S ") + message, flush=True)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    missing = [command for command in REQUIRED_COMMANDS if shutil.which(command) is None]
    if missing:
        sys.exit("bench: missing commands: %s (make deps installs them)" % ", ".join(missing))
    make_collection_importable()
    from .bench import Bench  # imports the collection and tests.support, importable only now

    workdir = tempfile.mkdtemp(prefix="hangar-bench-")
    profile_dir = os.path.join(args.results, "profiles") if args.profile else None
    archive_only = [key for key in args.only if key in ARCHIVE_SCENARIOS]
    args.only = [key for key in args.only if key not in ARCHIVE_SCENARIOS]
    try:
        if archive_only:
            from . import archive_bench

            args.only, registry_only = archive_only, args.only
            figures = archive_bench.run(args, workdir, log)
            args.only = registry_only
            os.makedirs(args.results, exist_ok=True)
            path = os.path.join(args.results, "archive-latest.json")
            with open(path, "w") as out:
                json.dump(figures, out, indent=2)
            log("wrote %s" % path)
            if not args.only:
                return 0
        with Bench(args, workdir, profile_dir, log) as bench:
            results = bench.run()
        for path in results.write(args.results):
            log("wrote %s" % path)
        print()
        print(results.markdown())
        if results.errors:
            log("%d runs failed: see the report" % len(results.errors))
            return 1
    finally:
        if args.keep:
            log("work directory kept: %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0
