"""Run ansible-playbook with our JSON callback (callback_plugins/json_report.py) and read what happened, per task
and per host.

    result = run_playbook("playbooks/offline_install.yml", tmp_path, inventory={...}, extra_vars={...})
    result.returncode, result.stats["host"]["changed"]
    result.task("Save the images into the archive")["host"]["images"]     # the module's result

Each run costs seconds: group assertions into few runs.
"""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.conftest import COLLECTIONS_PATH, REPO_ROOT

PLAYBOOK_TIMEOUT = 300
BIN_DIR = Path(sys.executable).parent
CALLBACK_PLUGINS = Path(__file__).resolve().parent / "callback_plugins"


def local_host(**host_vars):
    """Inventory variables for a host that runs on this machine with the tests' Python."""
    return dict(ansible_connection="local", ansible_python_interpreter=sys.executable, **host_vars)


@dataclass
class PlaybookResult:
    returncode: int
    report: dict
    stderr: str

    @property
    def stats(self):
        """{host: {"ok", "changed", "failures", "skipped", "ignored", ...}} from the recap."""
        return self.report.get("stats", {})

    @property
    def changed(self):
        """{host: changed count}"""
        return {host: counts["changed"] for host, counts in self.stats.items()}

    def tasks(self):
        for play in self.report.get("plays", []):
            yield from play["tasks"]

    def task(self, name):
        """{host: result} of the last task with this name (from the end of its "role : " prefix)."""
        found = [task for task in self.tasks() if task["task"]["name"].split(" : ")[-1] == name]
        if not found:
            raise AssertionError("no task %r ran; tasks: %s" % (name, [t["task"]["name"] for t in self.tasks()]))
        return found[-1]["hosts"]

    def failures(self):
        """(task name, host, msg) of every task that failed: what an assertion message should show."""
        return [(task["task"]["name"], host, result.get("msg")) for task in self.tasks()
                for host, result in task["hosts"].items() if result.get("failed") is True] or self.stderr

    def changed_tasks(self):
        """(task name, host) of every task that reported a change."""
        return [(task["task"]["name"], host) for task in self.tasks()
                for host, result in task["hosts"].items() if result.get("changed")]


def run_playbook(playbook, work_dir, inventory=None, extra_vars=None, env=None, options=(),
                 collections_path=COLLECTIONS_PATH):
    """Run `playbook` (a path, or a collection playbook's full name) from `work_dir`; `inventory` is the YAML
    inventory as a dict (default: the implicit localhost), `options` more ansible-playbook arguments."""
    work_dir = Path(work_dir)
    command = [str(BIN_DIR / "ansible-playbook"), str(playbook)]
    if inventory is not None:
        inventory_path = work_dir / "inventory.yml"
        inventory_path.write_text(yaml.safe_dump(inventory))
        command += ["-i", str(inventory_path)]
    if extra_vars:
        vars_path = work_dir / "extra_vars.json"
        vars_path.write_text(json.dumps(extra_vars))
        command += ["-e", "@%s" % vars_path]
    command += list(options)
    run_env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_path),
                   ANSIBLE_CALLBACK_PLUGINS=str(CALLBACK_PLUGINS),
                   ANSIBLE_STDOUT_CALLBACK="json_report", ANSIBLE_LOCALHOST_WARNING="false",
                   ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="true", ANSIBLE_PIPELINING="true",
                   PATH="%s:%s" % (BIN_DIR, os.environ.get("PATH", "")))
    run_env.update(env or {})
    finished = subprocess.run(command, cwd=work_dir, env=run_env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=PLAYBOOK_TIMEOUT, check=False)
    try:
        report = json.loads(finished.stdout[finished.stdout.index("{"):])
    except ValueError:
        raise AssertionError("ansible-playbook printed no JSON report (exit %d):\n%s\n%s"
                             % (finished.returncode, finished.stdout, finished.stderr)) from None
    return PlaybookResult(finished.returncode, report, finished.stderr)


def repo_path(*parts):
    return REPO_ROOT.joinpath(*parts)
