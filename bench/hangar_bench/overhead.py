"""The module's own overhead in a playbook: a one-task playbook running hangar_mirror with nothing to do
(an empty image list) against a one-task ansible.builtin.ping playbook, run alternately; and the
import time of the module (`python -X importtime`), ours apart from Ansible's module_utils.basic, and the same
for every module of the collection (what each one's start-up costs before it does anything).
"""

import os
import re
import statistics
import subprocess
import sys

from .paths import COLLECTIONS_PATH, REPO_ROOT

MODULES_PACKAGE = "ansible_collections.airgap.hangar.plugins.modules"
MODULE = MODULES_PACKAGE + ".hangar_mirror"
ANSIBLE_BASIC = "ansible.module_utils.basic"
IMPORT_RUNS = 5
_IMPORT_RE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def module_names():
    """Every module of the collection (plugins/modules/*.py), by its short name."""
    return sorted(path.stem for path in (REPO_ROOT / "plugins" / "modules").glob("hangar_*.py"))


def import_time(module):
    """Cumulative import seconds of `module` and of ansible.module_utils.basic (which ping needs too), from one
    `python -X importtime` in a fresh interpreter (byte code cached, as in an installed collection)."""
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS_PATH))
    completed = subprocess.run([sys.executable, "-X", "importtime", "-c", "import " + module], env=env,
                               capture_output=True, text=True, check=True)
    cumulative = {}
    for line in completed.stderr.splitlines():
        match = _IMPORT_RE.match(line)
        if match:
            cumulative.setdefault(match.group(4), int(match.group(2)) / 1e6)
    return cumulative.get(module), cumulative.get(ANSIBLE_BASIC)


def import_times(runs=IMPORT_RUNS):
    """{module name: median seconds of importing it, less Ansible's module_utils.basic}, and for hangar_mirror
    (the overhead's module) the medians of the whole import and of basic's part."""
    ours, mirror = {}, None
    for name in module_names():
        samples = [import_time("%s.%s" % (MODULES_PACKAGE, name)) for _run in range(runs)]
        whole = statistics.median(sample[0] for sample in samples)
        basic = statistics.median(sample[1] or 0.0 for sample in samples)
        ours[name] = whole - basic
        if name == MODULE.rpartition(".")[2]:
            mirror = (whole, basic)
    return ours, mirror


def measure_overhead(playbook_tool, runs, log):
    """{ping, module, overhead, import_module, import_basic} in seconds (medians of `runs` each), and
    import_modules: {module name: seconds} (each module's import less Ansible's basic)."""
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
    per_module, (imported, basic) = import_times()
    log("  import of each module without Ansible's basic (medians of %d): %s" % (
        IMPORT_RUNS, ", ".join("%s %.3f s" % item for item in per_module.items())))
    figures = {"ping": statistics.median(ping), "module": statistics.median(module),
               "import_module": imported, "import_basic": basic, "import_modules": per_module, "runs": runs}
    figures["overhead"] = figures["module"] - figures["ping"]
    return figures
