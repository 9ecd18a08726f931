"""LazyLibrary: a library of requirements.txt imported on first use, and its import error when missing."""

import sys

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._requirements import LazyLibrary

MISSING = "airgap_hangar_no_such_library"


def test_the_first_attribute_read_imports_the_library(monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    library = LazyLibrary("colorsys")
    assert "colorsys" not in sys.modules
    assert library.rgb_to_hsv(0, 0, 0) == (0, 0, 0)
    assert "colorsys" in sys.modules
    assert library.import_error() is None


def test_a_probe_looks_without_importing(monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    assert LazyLibrary("colorsys").import_error(probe=True) is None
    assert "colorsys" not in sys.modules


def test_a_missing_library_names_itself_and_the_package_to_install():
    library = LazyLibrary(MISSING + ".sub", "no-such-package")
    assert "No module named %r" % MISSING in library.import_error(probe=True)
    assert "ModuleNotFoundError" in library.import_error()
    assert library.package == "no-such-package"
    with pytest.raises(ImportError, match="the Python library no-such-package is needed here"):
        library.anything  # noqa: B018


def test_a_library_blocked_in_sys_modules_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "colorsys", None)
    assert LazyLibrary("colorsys").import_error(probe=True)
    assert LazyLibrary("colorsys").import_error()


def test_dunder_lookups_never_import():
    library = LazyLibrary(MISSING)
    with pytest.raises(AttributeError):
        library.__wrapped__  # noqa: B018
    assert repr(library) == "LazyLibrary(%r)" % MISSING
