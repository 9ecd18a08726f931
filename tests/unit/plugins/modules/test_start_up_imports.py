"""A module imports only what its run needs (issue 17), and still names a missing library the usual way.

Each case runs in a fresh Python, as Ansible runs a module, and looks at sys.modules afterwards: no timing.
A library is made missing the way Python itself honours (`sys.modules[name] = None` makes its import fail).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[4]
COLLECTIONS_PATH = REPO_ROOT / "build" / "collections"
MODULES = "ansible_collections.airgap.hangar.plugins.modules."
MODULE_UTILS = "ansible_collections.airgap.hangar.plugins.module_utils."
# What a run with nothing to do must not pay for: HTTP, signing, YAML, JMESPath, the Harbor client.
HEAVY = ("requests", "urllib3", "cryptography", "nacl", "yaml", "jmespath", MODULE_UTILS + "_signing",
         MODULE_UTILS + "_harbor")

CHILD = """
import json, sys
for name in %(missing)r:
    sys.modules[name] = None
sys.path[:0] = %(paths)r
%(body)s
print("\\nLOADED " + json.dumps(sorted(sys.modules)))
"""


def run_fresh(body, missing=()):
    """(stdout before the module list, the names in sys.modules at the end) of `body` in a fresh Python."""
    code = CHILD % {"missing": list(missing), "paths": [str(COLLECTIONS_PATH), str(REPO_ROOT)], "body": body}
    completed = subprocess.run([sys.executable, "-c", code], cwd=str(REPO_ROOT), capture_output=True, text=True,
                               timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    output, _sep, loaded = completed.stdout.rpartition("\nLOADED ")
    return output, set(json.loads(loaded))


def run_module_fresh(name, args, missing=()):
    """The result of module `name` run (tests/support/module_runner) in a fresh Python, and what it loaded."""
    output, loaded = run_fresh("from tests.support.module_runner import run_module\n"
                               "print(json.dumps(run_module(%r, %r)))" % (name, args), missing)
    return json.loads(output), loaded


def heavy_in(loaded):
    return sorted(name for name in loaded if any(name == h or name.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("module", ["hangar_mirror", "hangar_save", "hangar_load", "hangar_image",
                                    "hangar_image_info", "hangar_validate", "hangar_archive",
                                    "hangar_archive_info", "hangar_image_list"])
def test_importing_a_module_loads_no_optional_library(module):
    _output, loaded = run_fresh("import %s%s" % (MODULES, module))
    assert MODULES + module in loaded
    assert heavy_in(loaded) == []


def test_a_mirror_with_nothing_to_do_imports_no_http_signing_or_harbor_code():
    result, loaded = run_module_fresh("hangar_mirror", {"images": [], "registry": "127.0.0.1:1"})
    assert result["changed"] is False and not result.get("failed"), result
    assert result["stats"]["images"] == 0
    assert heavy_in(loaded) == []
    assert MODULE_UTILS + "_registry.client" not in loaded


def test_a_missing_requests_fails_with_missing_required_lib():
    result, _loaded = run_module_fresh("hangar_mirror", {"images": [], "registry": "127.0.0.1:1"},
                                       missing=["requests"])
    assert result["failed"] is True
    assert "Failed to import the required Python library (requests)" in result["msg"], result["msg"]


@pytest.mark.parametrize("missing, package", [(["cryptography"], "cryptography"), (["nacl"], "pynacl")])
def test_a_missing_signing_library_fails_a_signing_mirror_before_any_work(tmp_path, missing, package):
    args = {"images": ["127.0.0.1:1/library/alpine:3"], "registry": "127.0.0.1:2",
            "sigstore_private_key": str(tmp_path / "cosign.key")}
    result, loaded = run_module_fresh("hangar_mirror", args, missing=missing)
    assert result["failed"] is True
    assert "Failed to import the required Python library (%s)" % package in result["msg"], result["msg"]
    assert "requests" not in loaded  # it failed before reaching any registry


def test_a_missing_jmespath_fails_image_list_queries():
    result, _loaded = run_module_fresh("hangar_image_list", {"images": ["alpine:3"], "queries": ["spec.image"]},
                                       missing=["jmespath"])
    assert result["failed"] is True
    assert "Failed to import the required Python library (jmespath)" in result["msg"], result["msg"]


def test_a_missing_jmespath_fails_archive_info_queries(tmp_path):
    args = {"archive": str(tmp_path / "none.zip"), "query": "[].name"}
    result, _loaded = run_module_fresh("hangar_archive_info", args, missing=["jmespath"])
    assert result["failed"] is True
    assert "Failed to import the required Python library (jmespath)" in result["msg"], result["msg"]


def test_a_missing_pyyaml_fails_image_list():
    result, _loaded = run_module_fresh("hangar_image_list", {"images": ["alpine:3"]}, missing=["yaml"])
    assert result["failed"] is True
    assert "Failed to import the required Python library (PyYAML)" in result["msg"], result["msg"]
