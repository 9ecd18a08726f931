"""Run a module of the collection in-process, as Ansible would, and return its result dict.

Much faster than ansible-playbook for the many module tests; the playbook tests cover the real
wiring (argument specs over JSON, module_defaults, no_log) separately.
"""

import importlib
import io
import json
import sys

from ansible.module_utils.testing import patch_module_args


def run_module(name, args, check_mode=False, diff=False):
    """Run plugins/modules/<name>.py with `args`; return the JSON result (with `failed` on failure)."""
    module = importlib.import_module("ansible_collections.airgap.hangar.plugins.modules.%s" % name)
    full_args = dict(args)
    full_args["_ansible_check_mode"] = check_mode
    full_args["_ansible_diff"] = diff
    full_args["_ansible_remote_tmp"] = "/tmp"
    full_args["_ansible_keep_remote_files"] = False
    stdout = io.StringIO()
    real_stdout = sys.stdout
    sys.stdout = stdout
    try:
        with patch_module_args(full_args):
            module.main()
    except SystemExit:
        pass
    finally:
        sys.stdout = real_stdout
    output = stdout.getvalue()
    try:
        return json.loads(output[output.index("{"):])
    except ValueError:
        raise AssertionError("module %s printed no JSON result: %r" % (name, output)) from None
