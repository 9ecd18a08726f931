"""docs/ARCHITECTURE.md names only paths that exist, and names every package of module_utils."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "ARCHITECTURE.md"
MODULE_UTILS = ROOT / "plugins" / "module_utils"


def named_paths():
    """Every `code` span that looks like a repository path (has a slash, or ends in .py)."""
    for span in re.findall(r"`([^`\s]+)`", PAGE.read_text()):
        if span.startswith(("plugins/", "tests/", "roles/", "playbooks/", "docs/", "bench/", "demo/", "meta/")):
            yield span.rstrip("/")


def test_every_named_path_exists():
    missing = [path for path in named_paths() if not any(ROOT.glob(path))]
    assert not missing, "docs/ARCHITECTURE.md names paths that do not exist: %s" % missing


def test_every_package_and_file_is_on_the_page():
    text = PAGE.read_text()
    unnamed = []
    for path in sorted(MODULE_UTILS.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        relative = path.relative_to(MODULE_UTILS).as_posix()
        if "plugins/module_utils/" + relative not in text and "`%s`" % path.name not in text:
            unnamed.append(relative)
    assert not unnamed, "docs/ARCHITECTURE.md does not mention: %s" % unnamed
