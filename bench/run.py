"""Benchmark airgap.hangar against skopeo on local registries; see bench/README.md.

    .venv/bin/python bench/run.py            # full run (7 to 10 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # for development
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hangar_bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
