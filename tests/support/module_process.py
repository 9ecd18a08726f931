"""Run a module of the collection in a child process, for tests that kill it (`kill -9`) mid-run.

    process = ModuleProcess("hangar_save", args, workdir).start()
    process.kill()                     # SIGKILL, by PID; a no-op when it has finished
    ModuleProcess(..., pause_at="before-rename").start().wait_for_pause("before-rename")  # kill_points
    result = process.wait()            # the module's JSON result (after a normal end)

The child runs `python -m tests.support.module_process NAME ARGS.json` in the checkout, through
module_runner, so it is one process (threads only): killing its PID stops all of it. Whatever
happens, `stop()` (also on leaving a `with` block) kills and reaps it.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS_PATH = REPO_ROOT / "build" / "collections"
RUN_TIMEOUT = 120


class ModuleProcess:
    def __init__(self, name, args, workdir, check_mode=False, pause_at=None):
        self.name = name
        self.args_path = Path(workdir) / ("%s-args.json" % name)
        self.args_path.write_text(json.dumps({"args": args, "check_mode": check_mode, "pause_at": pause_at}))
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.module_process", self.name, str(self.args_path)],
            cwd=str(REPO_ROOT), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        return self

    @property
    def pid(self):
        return self.process.pid

    def running(self):
        return self.process is not None and self.process.poll() is None

    def wait_for_pause(self, phase):
        """Block until the child says it stopped at `phase` (a kill_points pause); False if it ended first."""
        from .kill_points import MARKER

        for raw in iter(self.process.stderr.readline, b""):
            if raw.decode("utf-8", "replace").strip() == MARKER + phase:
                return True
        return False

    def kill(self):
        """SIGKILL the child (kill -9); True if it was still running."""
        if not self.running():
            return False
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=RUN_TIMEOUT)
        return True

    def wait(self, timeout=RUN_TIMEOUT):
        stdout, stderr = self.process.communicate(timeout=timeout)
        if self.process.returncode != 0:
            raise AssertionError("module %s exited with %d: %s" % (self.name, self.process.returncode,
                                                                   stderr.decode("utf-8", "replace")[-2000:]))
        return json.loads(stdout)

    def stop(self):
        if self.process is not None:
            self.kill()
            self.process.communicate()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def main():
    sys.path.insert(0, str(COLLECTIONS_PATH))
    from tests.support.module_runner import run_module

    name, args_path = sys.argv[1], sys.argv[2]
    request = json.loads(Path(args_path).read_text())
    if request.get("pause_at"):
        from tests.support import kill_points

        kill_points.install(request["pause_at"])
    result = run_module(name, request["args"], check_mode=request["check_mode"])
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
