# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run of many images reports: counts, bytes, seconds, a one-line message, and the failed-image
file (private module_utils, no Ansible imports)."""

from __future__ import annotations

import os
import tempfile
import time

from .._copy.model import COPIED, FAILED, SKIPPED, UNCHANGED, DestinationState
from .._errors import HangarError
from .._image.reference import embedded_password


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


def destination_key(result):
    """What a diff names an image's destination by: the destination reference, or for an archive
    (no destination reference) the archive entry's source reference."""
    return str(result.dest_ref) if result.dest_ref is not None else str(result.source_ref)


def run_diff(results, header=None):
    """Ansible's `diff` from the before/after record of each image the run changed (or would change):
    {before: {destination: {digest, platforms}}, after: {...}}. The same records make `changed` (an
    image changed is `copied`) and the message's counts, so the three agree."""
    before, after = {}, {}
    for result in results:
        if result.status != COPIED:
            continue
        key = destination_key(result)
        before[key] = (result.before or DestinationState()).as_dict()
        after[key] = (result.after or DestinationState()).as_dict()
    diff = {"before": before, "after": after}
    if header:
        diff.update(before_header=header, after_header=header)
    return diff


def check_mode_failed_file_note(failed_file, results):
    lines = failed_lines(results)
    if not failed_file or not lines:
        return ""
    return "; would write %d line%s to %s" % (len(lines), "" if len(lines) == 1 else "s", failed_file)


def run_result(results, started, retries, verb, where, check_mode, failed_file, changed=None, diff=False,
               diff_header=None):
    """The result keys every image-moving module returns: images, failed, stats and msg (and diff in diff
    mode); writes failed_file, except in check mode, which writes nothing and says what it would write."""
    if not check_mode:
        write_failed_file(failed_file, results)
    stats = run_stats(results, time.monotonic() - started)
    stats["retries"] = retries
    if changed is None:
        changed = any(r.status == COPIED or r.supply_chain_changed for r in results)
    msg = run_message(verb, stats, where, check_mode)
    if check_mode:
        msg += check_mode_failed_file_note(failed_file, results)
    result = dict(
        changed=changed,
        images=[r.as_dict() for r in results],
        failed_images=failed_lines(results),
        stats=stats,
        msg=msg,
    )
    if diff:
        result["diff"] = run_diff(results, diff_header)
    return result


def failure_when_any_failed(results, result):
    """The message a run fails with when any image failed, else None."""
    if any(r.status == FAILED for r in results):
        return failure_message(results) + ". " + result["msg"]
    return None


def hide_embedded_passwords(module):
    """Add the passwords written into references or registry names (`user:password@host`) to the values
    Ansible masks in everything it prints, the invocation included; the parsers refuse them anyway."""
    params = module.params
    texts = [params.get(name) for name in ("registry", "source_registry", "harbor_url")]
    for item in params.get("images") or []:
        texts.extend(item.values() if isinstance(item, dict) else [item])
    for text in texts:
        password = embedded_password(text.strip()) if isinstance(text, str) else None
        if password:
            module.no_log_values.add(password)


def _fail_with_partial(module, manager, message, exception=None, **context):
    """fail_json with what the run did so far: the per-image results, the failed ones (also written to
    failed_file) and, for an unexpected error, its traceback."""
    results = list(getattr(manager, "results", None) or [])
    failed_file = module.params.get("failed_file")
    extra = {}
    try:
        if not module.check_mode:
            write_failed_file(failed_file, results)
    except HangarError as exc:
        message += "; " + str(exc)
    if exception:
        extra["exception"] = exception
    module.fail_json(msg=message, images=[r.as_dict() for r in results], failed_images=failed_lines(results),
                     **dict(context, **extra))


def run_module_manager(module, manager_class, failure=failure_when_any_failed, **context):
    """Run a module's manager: exit with its result, or fail with it when `failure(results, result)`
    gives a message, or fail with the error and the partial per-image results when the run itself
    could not go on. Anything unexpected ends the same way, with the traceback in `exception` (as
    community.docker's modules do), never as a bare MODULE FAILURE."""
    hide_embedded_passwords(module)
    manager = None
    try:
        manager = manager_class(module)
        result = manager.run()
    except HangarError as exc:
        _fail_with_partial(module, manager, str(exc), **context)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # The exception itself: Ansible puts its traceback in `exception` when tracebacks are shown for errors.
        _fail_with_partial(module, manager, "Error: unexpected %s: %s (the images done so far are in `images`)" % (
            type(exc).__name__, exc), exception=exc, **context)
    message = failure(manager.results, result)
    if message:
        module.fail_json(**dict(result, msg=message))
    module.exit_json(**result)
