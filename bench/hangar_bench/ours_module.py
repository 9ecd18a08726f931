"""One of our modules run as its own process, the way Ansible's module wrapper ends up running it:
`python -m ansible_collections.airgap.hangar.plugins.modules.<name> ARGS.json`. Used to measure the
module process's own peak memory, which ansible-playbook's figure hides behind the controller's."""

import json
import os
import sys

from .ours_playbook import OursPlaybook
from .paths import child_python_path
from .process import run_measured
from .tasks import Sample


class OursModuleProcess(OursPlaybook):
    name = "ours (module process)"

    def _run(self, module, args):
        self._serial += 1
        args_path = os.path.join(self.workdir, "module-args-%03d.json" % self._serial)
        with open(args_path, "w") as stream:
            json.dump({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_remote_tmp=self.workdir)}, stream)
        argv = [sys.executable, "-m", "ansible_collections.airgap.hangar.plugins.modules.%s" % module, args_path]
        env = dict(os.environ, PYTHONPATH=child_python_path())
        measurement = run_measured(argv, env=env, cwd=self.workdir).check("module %s" % module)
        result = json.loads(measurement.stdout[measurement.stdout.index("{"):])
        if result.get("failed"):
            raise RuntimeError("module %s failed: %s" % (module, result.get("msg")))
        return Sample.of_process(measurement, changed=result.get("changed"), stats=result.get("stats"))
