# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run of many images reports: counts, bytes, seconds, a one-line message, and the failed-image
file (private module_utils, no Ansible imports)."""

from __future__ import annotations

import os
import tempfile
import time

from .._copy.model import COPIED, FAILED, SKIPPED, UNCHANGED
from .._errors import HangarError


def run_stats(results, seconds):
    stats = {
        "images": len(results),
        "copied": sum(1 for r in results if r.status == COPIED),
        "unchanged": sum(1 for r in results if r.status == UNCHANGED),
        "skipped": sum(1 for r in results if r.status == SKIPPED),
        "failed": sum(1 for r in results if r.status == FAILED),
        "bytes": sum(r.bytes_copied for r in results),
        "blobs_copied": sum(r.blobs_copied for r in results),
        "blobs_mounted": sum(r.blobs_mounted for r in results),
        "blobs_skipped": sum(r.blobs_skipped for r in results),
        "manifests_pushed": sum(r.manifests_pushed for r in results),
        "signatures_pushed": sum(1 for r in results for s in r.signatures if s.get("status") == "signed"),
        "artifacts_copied": sum(1 for r in results for a in r.artifacts if a.get("status") == COPIED),
        "seconds": round(seconds, 3),
    }
    return stats


def human_bytes(size):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return ("%d %s" % (size, unit)) if unit == "B" else ("%.1f %s" % (size, unit))
        size /= 1024.0
    return "%.1f TiB" % size


def run_message(verb, stats, where, check_mode=False):
    """`Saved 3 images to /a.zip: 2 copied, 1 unchanged, 0 skipped, 0 failed; 12.0 MiB in 4.2 s`."""
    prefix = "Would have %s" % verb.lower() if check_mode else verb
    return "%s %d image%s %s: %d %s, %d unchanged, %d skipped, %d failed; %s in %.1f s" % (
        prefix, stats["images"], "" if stats["images"] == 1 else "s", where,
        stats["copied"], "to copy" if check_mode else "copied", stats["unchanged"], stats["skipped"],
        stats["failed"], human_bytes(stats["bytes"]), stats["seconds"])


def failure_message(results):
    failed = [r for r in results if r.status == FAILED]
    first = failed[0]
    return "%d of %d images failed; first: %s: %s" % (len(failed), len(results), first.source_ref, first.error)


def failed_lines(results):
    return [r.entry.line if r.entry is not None else str(r.source_ref) for r in results if r.status == FAILED]


def write_failed_file(path, results):
    """Write the failed images' lines (as given) to `path`, atomically; nothing when none failed."""
    lines = failed_lines(results)
    if not path or not lines:
        return False
    directory = os.path.dirname(os.path.abspath(path))
    try:
        handle, temp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write("\n".join(lines) + "\n")
        os.replace(temp, path)
    except OSError as exc:
        raise HangarError("Error writing failed_file %s: %s" % (path, exc)) from exc
    return True


def run_result(results, started, retries, verb, where, check_mode, failed_file, changed=None):
    """The result keys every image-moving module returns: images, failed, stats and msg; writes failed_file."""
    write_failed_file(failed_file, results)
    stats = run_stats(results, time.monotonic() - started)
    stats["retries"] = retries
    if changed is None:
        changed = any(r.status == COPIED or r.supply_chain_changed for r in results)
    return dict(
        changed=changed,
        images=[r.as_dict() for r in results],
        failed_images=failed_lines(results),
        stats=stats,
        msg=run_message(verb, stats, where, check_mode),
    )


def failure_when_any_failed(results, result):
    """The message a run fails with when any image failed, else None."""
    if any(r.status == FAILED for r in results):
        return failure_message(results) + ". " + result["msg"]
    return None


def run_module_manager(module, manager_class, failure=failure_when_any_failed, **context):
    """Run a module's manager: exit with its result, or fail with it when `failure(results, result)`
    gives a message, or fail with the error and the partial per-image results when the run itself
    could not go on."""
    manager = None
    try:
        manager = manager_class(module)
        result = manager.run()
    except HangarError as exc:
        partial = [r.as_dict() for r in manager.results] if manager else []
        module.fail_json(msg=str(exc), images=partial, **context)
    message = failure(manager.results, result)
    if message:
        module.fail_json(**dict(result, msg=message))
    module.exit_json(**result)
