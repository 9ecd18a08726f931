"""Where the checkout, the collection and the results are, and how children import them."""

import contextlib
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO_ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
# The same link the tests make (tests/conftest.py): the checkout as ansible_collections/airgap/hangar.
COLLECTIONS_PATH = REPO_ROOT / "build" / "collections"
_COLLECTION_LINK = COLLECTIONS_PATH / "ansible_collections" / "airgap" / "hangar"


def make_collection_importable():
    """Link the checkout into build/collections and put it (and the repo, for tests.support) on sys.path."""
    if not _COLLECTION_LINK.exists():
        _COLLECTION_LINK.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.symlink(REPO_ROOT, _COLLECTION_LINK, target_is_directory=True)
    for path in (str(COLLECTIONS_PATH), str(REPO_ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)


def child_python_path():
    """PYTHONPATH for child Python processes: the collection and the bench package."""
    return os.pathsep.join((str(COLLECTIONS_PATH), str(BENCH_DIR)))


def venv_tool(name):
    """A console script installed beside the running Python (the .venv's ansible-playbook, py-spy)."""
    return str(Path(sys.executable).parent / name)
