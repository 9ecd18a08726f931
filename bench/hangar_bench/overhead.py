"""The module's own overhead in a playbook: a one-task playbook running hangar_mirror with nothing to do
(an empty image list) against a one-task ansible.builtin.ping playbook, run alternately; and the
import time of the module (`python -X importtime`), ours apart from Ansible's module_utils.basic.
"""

import os
import re
import statistics
import subprocess
import sys

from .paths import COLLECTIONS_PATH

MODULE = "ansible_collections.airgap.hangar.plugins.modules.hangar_mirror"
ANSIBLE_BASIC = "ansible.module_utils.basic"
_IMPORT_RE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def import_times():
    """Cumulative import seconds of our module and of ansible.module_utils.basic (which ping needs too)."""
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS_PATH))
    completed = subprocess.run([sys.executable, "-X", "importtime", "-c", "import " + MODULE], env=env,
                               capture_output=True, text=True, check=True)
    cumulative = {}
    for line in completed.stderr.splitlines():
        match = _IMPORT_RE.match(line)
        if match:
            cumulative.setdefault(match.group(4), int(match.group(2)) / 1e6)
    return cumulative.get(MODULE), cumulative.get(ANSIBLE_BASIC)


def measure_overhead(playbook_tool, runs, log):
    """{ping, module, overhead, import_module, import_basic} in seconds (medians of `runs` each)."""
    ping, module = [], []
    for run in range(runs):
        order = [("ping", ping), ("module", module)]
        for name, samples in order if run % 2 == 0 else order[::-1]:
            if name == "ping":
                sample = playbook_tool.run_task("ansible.builtin.ping", {})
            else:
                sample = playbook_tool.run_task("airgap.hangar.hangar_mirror",
                                                {"images": [], "registry": "127.0.0.1:1"})
            samples.append(sample.seconds)
        log("  overhead run %d/%d: ping %.2f s, hangar_mirror with nothing to do %.2f s"
            % (run + 1, runs, ping[-1], module[-1]))
    imported, basic = import_times()
    figures = {"ping": statistics.median(ping), "module": statistics.median(module),
               "import_module": imported, "import_basic": basic, "runs": runs}
    figures["overhead"] = figures["module"] - figures["ping"]
    return figures
