"""The packages of plugins/module_utils import only downwards, and only the glue imports Ansible.

The allowed edges are the layering of docs/ARCHITECTURE.md; a new package is added here with the
packages it may import, so that a new upward import fails this test instead of a later reader.
"""

import ast
from pathlib import Path

import pytest

MODULE_UTILS = Path(__file__).resolve().parents[4] / "plugins" / "module_utils"
PREFIX = "ansible_collections.airgap.hangar.plugins.module_utils."

# package -> the packages it may import (besides itself). "_errors" is the one shared module.
ALLOWED = {
    "_errors": set(),
    "_requirements": set(),
    "_image": {"_errors"},
    "_registry": {"_image", "_errors", "_requirements"},
    "_archive": {"_image", "_errors", "_requirements"},
    "_harbor": {"_registry", "_image", "_errors", "_requirements"},
    "_signing": {"_registry", "_image", "_errors", "_requirements"},
    "_copy": {"_signing", "_archive", "_harbor", "_registry", "_image", "_errors"},
    "_inventory": {"_registry", "_image", "_errors"},
    "_discovery": {"_image", "_errors", "_requirements"},
    "_ansible_glue": {"_copy", "_signing", "_harbor", "_archive", "_registry", "_image", "_errors", "_inventory",
                      "_discovery", "_requirements"},
}
GLUE = "_ansible_glue"


def layer_of(path):
    relative = path.relative_to(MODULE_UTILS)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_names(path):
    """(absolute module name, line) for every import of the file, relative imports resolved."""
    relative = path.relative_to(MODULE_UTILS).with_suffix("")
    package = list(relative.parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                parts = base + (node.module.split(".") if node.module else [])
                if not node.module:
                    for alias in node.names:
                        yield PREFIX + ".".join(parts + [alias.name]), node.lineno
                    continue
                yield PREFIX + ".".join(parts), node.lineno
            else:
                yield node.module, node.lineno


def internal_layer(name):
    if not name.startswith(PREFIX):
        return None
    return name[len(PREFIX):].split(".")[0]


SOURCES = sorted(p for p in MODULE_UTILS.rglob("*.py") if p.name != "__init__.py")


def test_every_file_is_in_a_known_package():
    unknown = sorted({layer_of(path) for path in SOURCES} - set(ALLOWED))
    assert not unknown, "add these packages to ALLOWED with the layers they may import: %s" % unknown


def test_every_package_has_an_init_and_no_private_file_names():
    for package in (p for p in MODULE_UTILS.iterdir() if p.is_dir() and p.name != "__pycache__"):
        assert (package / "__init__.py").is_file(), package
        assert not [p.name for p in package.glob("_*.py") if p.name != "__init__.py"], package


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(MODULE_UTILS)))
def test_imports_go_down_the_layers(path):
    layer = layer_of(path)
    for name, line in imported_names(path):
        target = internal_layer(name)
        if target is not None and target != layer:
            assert target in ALLOWED[layer], "%s:%d imports %s, above or beside its layer %s" % (
                path.relative_to(MODULE_UTILS), line, name, layer)
        if layer != GLUE:
            assert name != "ansible" and not name.startswith("ansible."), (
                "%s:%d imports %s: only %s may import Ansible" % (path.relative_to(MODULE_UTILS), line, name, GLUE))


def test_the_checker_sees_relative_imports():
    names = {name for name, _line in imported_names(MODULE_UTILS / "_copy" / "engine.py")}
    assert PREFIX + "_errors" in names
    assert PREFIX + "_copy.model" in names
