"""Put this folder on PYTHONPATH of ansible-playbook (with HANGAR_TEST_MODULE_LOG=<file>) and every
line a module sends to syslog (module.log, and module.debug under ANSIBLE_DEBUG=1) is appended to
that file too, so tests can read what the modules logged."""

import os
import syslog

_PATH = os.environ.get("HANGAR_TEST_MODULE_LOG")
if _PATH:
    _real_syslog = syslog.syslog

    def _syslog(*args):
        with open(_PATH, "a", encoding="utf-8") as stream:
            stream.write("%s\n" % (args[-1],))
        _real_syslog(*args)

    syslog.syslog = _syslog
