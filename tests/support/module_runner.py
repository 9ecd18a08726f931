"""Run a module of the collection in-process, as Ansible would, and return its result dict.

Much faster than ansible-playbook for the many module tests; the playbook tests cover the real
wiring (argument specs over JSON, module_defaults, no_log) separately.

    log = []
    run_module("hangar_save", args, debug_log=log)   # Ansible's debug on (_ansible_debug, as ANSIBLE_DEBUG=1
                                                      # sets it); every module.log/module.debug line, as the
                                                      # module passed it, before Ansible's own masking
"""

import contextlib
import importlib
import io
import json
import sys
from unittest import mock

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args


def run_module(name, args, check_mode=False, diff=False, debug_log=None):
    """Run plugins/modules/<name>.py with `args`; return the JSON result (with `failed` on failure).

    With a list as debug_log, the module runs with Ansible's debug on and every line it logs is
    appended to the list instead of going to syslog."""
    module = importlib.import_module("ansible_collections.airgap.hangar.plugins.modules.%s" % name)
    full_args = dict(args)
    full_args["_ansible_check_mode"] = check_mode
    full_args["_ansible_diff"] = diff
    full_args["_ansible_remote_tmp"] = "/tmp"
    full_args["_ansible_keep_remote_files"] = False
    logging = contextlib.nullcontext()
    if debug_log is not None:
        full_args["_ansible_debug"] = True

        def record(_module, msg, log_args=None):
            debug_log.append(msg)

        logging = mock.patch.object(AnsibleModule, "log", record)
    # A real module runs in a process of its own; here warnings of earlier runs would stay in Ansible's
    # process-wide lists and show up in this result.
    ansible_warnings._global_warnings.clear()
    ansible_warnings._global_deprecations.clear()
    stdout = io.StringIO()
    real_stdout = sys.stdout
    sys.stdout = stdout
    try:
        with patch_module_args(full_args), logging:
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
