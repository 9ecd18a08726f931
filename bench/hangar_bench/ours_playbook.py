"""Our modules as users run them: one task in a playbook, through ansible-playbook (start-up included).

The playbook is written as JSON (valid YAML) with the module's options inline; the modules run
with the .venv's Python on localhost over the local connection, with Ansible's other defaults.
Its peak memory is the largest of ansible-playbook's processes, the module's included.
"""

import json
import os
import re
import sys

from .paths import COLLECTIONS_PATH, venv_tool
from .process import run_measured
from .tasks import Sample

JOBS = 4
_RECAP_RE = re.compile(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


class OursPlaybook:
    name = "ours (ansible-playbook)"

    def __init__(self, workdir):
        self.workdir = workdir
        self._serial = 0

    def mirror(self, task):
        return self._run("hangar_mirror", {"images": task.source_references(), "registry": task.dest_host,
                                           "tls_verify": False, "source_tls_verify": False, "jobs": JOBS})

    def save(self, task):
        return self._run("hangar_save", {"images": task.source_references(), "archive": task.output,
                                         "tls_verify": False, "jobs": JOBS})

    def load(self, task):
        return self._run("hangar_load", {"archive": task.source, "registry": task.dest_host, "tls_verify": False,
                                         "jobs": JOBS})

    def _run(self, module, args):
        return self.run_task("airgap.hangar.%s" % module, args)

    def run_task(self, action, args):
        """A one-task playbook of `action` (a module's full name) with `args`; its Sample."""
        module = action.rpartition(".")[2]
        self._serial += 1
        playbook = os.path.join(self.workdir, "playbook-%03d.yml" % self._serial)
        with open(playbook, "w") as stream:
            json.dump([{"name": "bench", "hosts": "localhost", "gather_facts": False,
                        "tasks": [{"name": module, action: args}]}], stream, indent=1)
        temp = os.path.join(self.workdir, "ansible-tmp")
        config = os.path.join(self.workdir, "ansible.cfg")  # Ansible's defaults, whatever the user's config says
        if not os.path.exists(config):
            with open(config, "w") as stream:
                stream.write("[defaults]\n")
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH), ANSIBLE_LOCAL_TEMP=temp,
                   ANSIBLE_REMOTE_TMP=temp, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
                   ANSIBLE_CONFIG=config, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        argv = [venv_tool("ansible-playbook"), "-i", "localhost,", "-c", "local",
                "-e", "ansible_python_interpreter=%s" % sys.executable, playbook]
        measurement = run_measured(argv, env=env, cwd=self.workdir).check("ansible-playbook %s" % module)
        recap = _RECAP_RE.search(measurement.stdout)
        if not recap or recap.group(4) != "0":
            raise RuntimeError("ansible-playbook %s did not succeed: %s" % (module, measurement.stdout[-3000:]))
        return Sample.of_process(measurement, changed=int(recap.group(2)) > 0)
