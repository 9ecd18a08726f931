"""Run a child process and measure it: wall time, CPU time and peak resident memory (see rss_launcher)."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rss_launcher.py")


@dataclass
class Measurement:
    seconds: float
    max_rss_bytes: int
    user_seconds: float
    system_seconds: float
    returncode: int
    stdout: str
    stderr: str

    def check(self, what):
        if self.returncode != 0:
            output = self.stderr[-3000:] or self.stdout[-3000:]
            raise RuntimeError("%s failed (exit %d): %s" % (what, self.returncode, output))
        return self


def run_measured(argv, env=None, cwd=None, stdin_text=None, timeout=1800):
    """Run argv to its end through rss_launcher. The peak RSS is the largest of the process and the
    descendants it waited for (Linux reports ru_maxrss of a reaped child that way), so `sh -c` and
    xargs show their largest child."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as stdin, \
            tempfile.NamedTemporaryFile(suffix=".json") as report:
        if stdin_text is not None:
            stdin.write(stdin_text.encode())
            stdin.seek(0)
        process = subprocess.Popen([sys.executable, "-S", LAUNCHER, report.name, "--"] + list(argv), stdin=stdin,
                                   stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True)
        watchdog = threading.Timer(timeout, _kill_group, (process.pid,))
        watchdog.start()
        try:
            returncode = process.wait()
        finally:
            watchdog.cancel()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
        try:
            usage = json.load(report)
        except ValueError:
            raise RuntimeError("%s: the launcher reported nothing (exit %d): %s"
                               % (argv[0], returncode, stderr)) from None
        return Measurement(usage["seconds"], usage["max_rss_bytes"], usage["user_seconds"], usage["system_seconds"],
                           returncode, stdout, stderr)


def _kill_group(pid):
    """Stop a child that overran its timeout, with what it started (its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
