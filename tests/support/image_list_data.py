"""The charts and manifests of tests/data/image_list, as the hangar_image_list tests read them.

Multi-document manifests and unrendered templates are stored as `*.yaml.in` (yamllint in ansible-test sanity
would reject them as `.yaml`); `data_dir()` copies the tree once per process to a temporary folder, removed at
exit, with their real names.
"""

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "data" / "image_list"
STORED_SUFFIX = ".yaml.in"


@functools.cache
def data_dir():
    folder = Path(tempfile.mkdtemp(prefix="hangar-image-list-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    target = folder / "image_list"
    shutil.copytree(SOURCE, target)
    for stored in sorted(target.rglob("*" + STORED_SUFFIX)):
        stored.rename(stored.with_name(stored.name[:-len(STORED_SUFFIX)] + ".yaml"))
    return target
