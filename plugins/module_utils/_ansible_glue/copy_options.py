# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a copying module (mirror, save, load, validate) gives the engine: its CopyOptions and after-copy steps
(private module_utils, for modules only).
"""

from __future__ import annotations

from .._copy.artifacts import ArtifactCarrier
from .._copy.model import CopyOptions
from .._copy.signing_step import SigningStep, chain_steps
from .._image.platform import PlatformFilter
from .module_options import parse_jobs, parse_timeout

# Blob workers shared by the images of a run. Chosen by `make bench --blob-jobs 4,8,12` (jobs 4, quiet
# machine, bench/README.md): 8 against 4 took the 300-image release 9 % faster and the small and big sets
# 2-3 %, with the same peak memory; 12 gained 5 % more on the release only. The fault tests pass with 8.
MIN_BLOB_JOBS = 8


def copy_options(params, check_mode):
    """CopyOptions from module parameters (the options each module has; others take defaults)."""
    jobs = parse_jobs(params.get("jobs", 4))
    return CopyOptions(
        platforms=PlatformFilter(params.get("arch"), params.get("os")),
        provenance=params.get("provenance", True),
        overwrite=params.get("overwrite", False) or False,
        platform_tags=params.get("platform_tags", False) or False,
        check_mode=check_mode,
        timeout=parse_timeout(params.get("timeout", "10m")),
        blob_jobs=max(MIN_BLOB_JOBS, jobs),
    )


def after_copy_steps(module, key=None):
    """What the engine runs after each image: carry its artifacts unless remove_signatures, then sign with `key`."""
    carrier = None if module.params.get("remove_signatures") else ArtifactCarrier(module.check_mode)
    return chain_steps(carrier, SigningStep(key, module.check_mode) if key else None)
