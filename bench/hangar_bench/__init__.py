"""The airgap.hangar benchmark against skopeo: see bench/README.md. Run with `python bench/run.py`."""
