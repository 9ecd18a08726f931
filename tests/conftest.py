"""Make the collection importable as ansible_collections.airgap.hangar for the tests.

The checkout is linked into build/collections/ansible_collections/airgap/hangar, which is also the
collections path that the ansible-playbook tests use.
"""

import contextlib
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS_PATH = REPO_ROOT / "build" / "collections"
_LINK = COLLECTIONS_PATH / "ansible_collections" / "airgap" / "hangar"

if not _LINK.exists():
    _LINK.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # another xdist worker made it meanwhile
        os.symlink(REPO_ROOT, _LINK, target_is_directory=True)
if str(COLLECTIONS_PATH) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_PATH))

pytest_plugins = ["tests.support.fixtures", "tests.support.harbor_fixtures"]
