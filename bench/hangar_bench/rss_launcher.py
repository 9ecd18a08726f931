"""Start a command and report its wall time and rusage: `python -S rss_launcher.py REPORT -- ARGV...`.

Why a launcher: a process forked (or vforked) from the benchmark, which holds the datasets in
memory, starts with the benchmark's peak RSS, and Linux carries that peak across exec. This small
process starts the command with posix_spawn, so the command's peak RSS is its own (floored at this
launcher's few MB), then writes {"seconds", "max_rss_bytes", "user_seconds", "system_seconds"}
to REPORT and exits with the command's status.
"""

import json
import os
import sys
import time


def main(argv):
    report_path, separator, command = argv[0], argv[1], argv[2:]
    if separator != "--" or not command:
        sys.exit("usage: rss_launcher.py REPORT -- ARGV...")
    started = time.monotonic()
    pid = os.posix_spawnp(command[0], command, os.environ)
    _unused, status, usage = os.wait4(pid, 0)
    seconds = time.monotonic() - started
    with open(report_path, "w") as stream:
        json.dump({"seconds": seconds, "max_rss_bytes": usage.ru_maxrss * 1024, "user_seconds": usage.ru_utime,
                   "system_seconds": usage.ru_stime}, stream)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
