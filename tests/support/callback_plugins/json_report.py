# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stdout callback for the playbook tests: one JSON document with every task's result per host, and the recap.

ansible-core 2.19 no longer ships a JSON callback (`ansible.builtin.json` redirects to ansible.posix, which
the tests do not install). The shape follows ansible.posix.json: {"plays": [{"play": {"name"}, "tasks":
[{"task": {"name", "seconds"}, "hosts": {host: result}}]}], "stats": {host: {"ok", "changed", "failures", ...}},
"custom_stats": what set_stats published for the whole run}.
"""

import json
import time

from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "json_report"

    def __init__(self):
        super().__init__()
        self.plays = []

    def v2_playbook_on_play_start(self, play):
        self.plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.plays[-1]["tasks"].append({"task": {"name": task.get_name(), "started": time.time()}, "hosts": {}})

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def _record(self, result, **flags):
        task = self.plays[-1]["tasks"][-1]
        task["task"]["seconds"] = round(time.time() - task["task"]["started"], 3)
        task["hosts"][result.host.get_name()] = dict(result.result, **flags)

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        summary = {host: stats.summarize(host) for host in sorted(stats.processed)}
        report = {"plays": self.plays, "stats": summary, "custom_stats": stats.custom.get("_run", {})}
        self._display.display(json.dumps(report, cls=AnsibleJSONEncoder))
