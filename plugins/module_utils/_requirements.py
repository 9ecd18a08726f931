# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Python libraries of requirements.txt, imported when first used (private module_utils, no Ansible imports).

A module run pays only for what it uses: `requests` when it talks to a registry, cryptography and PyNaCl when
it signs or verifies, PyYAML and jmespath when it reads YAML or runs queries. Each library is a LazyLibrary
used like the module it stands for (`requests.Session()`, `except yaml.YAMLError`); the first attribute read
imports it. ansible-test's import test runs without these libraries: importing our code then imports none of
them, and a module asks `import_error()` first to fail with missing_required_lib().
"""

from __future__ import annotations

import importlib
import importlib.util
import traceback


class LazyLibrary:
    """A third-party module imported on first attribute access; `package` is what to install for it."""

    def __init__(self, name, package=None):
        self.name = name
        self.package = package or name.partition(".")[0]
        self._module = None
        self._error = None

    def _load(self):
        if self._module is None and self._error is None:
            try:
                self._module = importlib.import_module(self.name)
            except ImportError:
                self._error = traceback.format_exc()
        return self._module

    def import_error(self, probe=False):
        """The traceback of importing the library when that fails, else None (the library is then imported).

        With probe, a library not imported yet is only looked for (importlib.util.find_spec), not imported: a
        check at a module's start that costs nothing when the run turns out to have nothing to do."""
        if probe and self._module is None and self._error is None:
            top = self.name.partition(".")[0]
            return None if importlib.util.find_spec(top) else "ModuleNotFoundError: No module named %r" % top
        self._load()
        return self._error

    def __getattr__(self, attribute):
        if attribute.startswith("__") or attribute in ("_module", "_error"):
            raise AttributeError(attribute)  # copy, pickle and half-built instances: never import for these
        module = self._load()
        if module is None:
            raise ImportError("the Python library %s is needed here, and it is not installed (%s)"
                              % (self.package, self._error.strip().splitlines()[-1]))
        return getattr(module, attribute)

    def __repr__(self):
        return "LazyLibrary(%r)" % self.name


requests = LazyLibrary("requests")
urllib3 = LazyLibrary("urllib3", "requests")
yaml = LazyLibrary("yaml", "PyYAML")
jmespath = LazyLibrary("jmespath")
