# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The copy engine: one image from a source store to a destination store (private module_utils, no Ansible imports).

A source offers `top_manifest(ref)`, `platform_descriptors(ref, top)`, `get_manifest(ref, digest)` and
`open_blob(ref, digest, size)`. A destination offers `is_current(ref, plan, options)`,
`has_manifest(ref, digest)`, `has_blob(ref, digest)`, `mount_blob(ref, digest, source, source_ref)`,
`put_blob(ref, descriptor, reader)`, `put_manifest(ref, manifest)` and `commit(ref, plan, options)`
(a CommitOutcome, or a `(changed, digest)` pair), and may offer `held_descriptors(ref, top)` (the
platform descriptors of a manifest it holds, read there) and `lock_key(ref)`: images whose
destinations share a lock key (one tag of one repository of one registry) are copied one at a time,
so the merges into one tag within a run never race. `is_current` returns the digest the destination
names when it already holds the image, else None. The registry and the archive implement both sides
(registry_store.py, archive_store.py).
"""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from .._errors import AuthenticationError, HangarError, NotFoundError, RegistryError, TLSError, describe_unexpected
from .._image.manifest import blob_descriptors
from .._image.platform import Platform, attestation_subject, is_attestation
from .._image.schema1 import convert_schema1
from .._registry.retry import (
    RetryBudget,
    RetryBudgetExhausted,
    RetryPolicy,
    current_retry_budget,
    retry_budget_scope,
    spend_retry,
)
from .._registry.transport import deadline_scope
from .model import (
    COPIED,
    FAILED,
    MOUNTED,
    SKIPPED,
    UNCHANGED,
    CommitOutcome,
    Deadline,
    DestinationState,
    ImageResult,
    TopPlan,
    platform_text,
)

# A blob transfer broken off once its bytes were flowing cannot be resumed: it is retried whole, from
# a fresh read of the source into a fresh upload session. A failure before that (opening the source,
# opening the upload session) comes from a request the client has retried already. Each whole-blob
# retry, like every request's, draws from the blob's retry budget and its image's (CopyOptions
# blob_retries, image_retries), so a flaky link costs one image a bounded number of retries in all.
BLOB_TRANSFER_RETRY = RetryPolicy()

# A manifest PUT the registry refuses because it cannot find something the manifest names (a blob, or
# a manifest an index lists: MANIFEST_BLOB_UNKNOWN, BLOB_UNKNOWN) is sent again, a bounded number of
# times, after a fresh look at the destination and sending what it lacks. Two runs copying one image
# into one repository at once meet it on Distribution 2.8's filesystem storage though nothing is
# missing: each commit or mount of a blob, and each PUT of a manifest, rewrites the repository's link
# file for that digest in place (truncated, then written), and a manifest PUT of the other run checking
# that digest in that instant reads an empty link (DIGEST_INVALID, then MANIFEST_BLOB_UNKNOWN).
MANIFEST_PUT_ATTEMPTS = 4
MANIFEST_PUT_PAUSE = 0.1
UNKNOWN_REFERENCE_CODES = frozenset(("MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN"))


def select_platforms(descriptors, platforms, provenance):
    """The platform descriptors that pass the allow-lists, with the attestations of those platforms
    when `provenance` is set. Descriptors without a platform (OCI artifacts) always pass. Order stays
    the source's."""
    chosen = {d["digest"] for d in descriptors
              if not is_attestation(d)
              and (not d.get("platform") or platforms.allows(Platform.from_dict(d["platform"])))}
    return [d for d in descriptors
            if d["digest"] in chosen or (provenance and is_attestation(d) and attestation_subject(d) in chosen)]


def choose_platforms(source_ref, top, descriptors, options):
    """(descriptors to copy, pinned, descriptors the filter would have dropped).

    A reference pinned by digest names exact bytes: everything its manifest names is copied (every
    platform and attestation, whatever the filter says), so the pin resolves at the destination.
    Otherwise the filter chooses. A converted schema 1 image has a new digest and is not pinned."""
    if source_ref.digest and not top.is_schema1 and top.digest == source_ref.digest:
        kept = select_platforms(descriptors, options.platforms, options.provenance)
        kept_digests = {d["digest"] for d in kept}
        return list(descriptors), True, [d for d in descriptors if d["digest"] not in kept_digests]
    return select_platforms(descriptors, options.platforms, options.provenance), False, []


def named_digests(top):
    """The manifest digests a top-level manifest stands for: its children, or itself."""
    if top.is_index:
        return {d["digest"] for d in top.children}
    return {top.digest}


class BlobGate:
    """Lets one thread move a given blob to a given destination while others wanting it wait,
    so images sharing base layers send each layer once and mount it afterwards."""

    def __init__(self):
        self._lock = threading.Lock()
        self._busy = {}

    def acquire(self, key):
        while True:
            with self._lock:
                event = self._busy.get(key)
                if event is None:
                    self._busy[key] = threading.Event()
                    return
            event.wait()

    def release(self, key):
        with self._lock:
            event = self._busy.pop(key, None)
        if event is not None:
            event.set()


def names_unknown_reference(exc):
    """A refused manifest PUT whose registry said something the manifest names is unknown to it."""
    return isinstance(exc, RegistryError) and not UNKNOWN_REFERENCE_CODES.isdisjoint(exc.codes)


def is_interrupted_transfer(exc, policy=BLOB_TRANSFER_RETRY):
    """A registry failure a fresh try may cure: the connection broke (no status) or the registry
    answered a transient status; never TLS, authentication, not-found or a wrong digest."""
    if not isinstance(exc, RegistryError) or isinstance(exc, (TLSError, AuthenticationError, NotFoundError)):
        return False
    return exc.status is None or policy.is_retryable_status(exc.status, (exc.code,) if exc.code else ())


class DeadlineReader:
    """Passes reads through and checks the image's deadline on each one; `started` tells whether
    the blob's bytes began to flow."""

    def __init__(self, reader, deadline, doing):
        self._reader = reader
        self.wrapped = reader  # lets a VerifyingReader over this one see the verifier behind it (hash once)
        self._deadline = deadline
        self._doing = doing
        self.started = False

    def read(self, n=-1):
        self._deadline.check(self._doing)
        self.started = True
        return self._reader.read(n)


class CopyEngine:
    """Copies images; one engine is shared by all images of a run so blobs are moved once."""

    def __init__(self, options, log=None, blob_retry=BLOB_TRANSFER_RETRY, after_copy=None):
        self.options = options
        # after_copy(source, source_ref, destination, dest_ref, result): what follows an image that
        # was copied or found current (its signatures and attestations, artifacts.py / signing_step.py)
        self.after_copy = after_copy
        self.log = log or (lambda message: None)
        self.blob_retry = blob_retry
        self.retries = 0  # whole-blob transfers retried, for the run's stats
        self._retries_lock = threading.Lock()
        self._gate = BlobGate()
        self._tag_gate = BlobGate()  # one holder per destination tag: merges into one tag take turns
        self._pending = []  # (PendingConfirmation, (source, source_ref, destination, dest_ref, result))
        self._pending_lock = threading.Lock()
        self._blob_pool = ThreadPoolExecutor(max_workers=max(1, options.blob_jobs), thread_name_prefix="hangar-blob")

    def close(self):
        self.settle()
        self._blob_pool.shutdown(wait=True)

    def settle(self):
        """Take every second look still pending (model.PendingConfirmation), on the blob workers; the
        results of the images concerned are final afterwards. Modules call it before they report."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
        for future in [self._blob_pool.submit(self._confirm, confirmation, image) for confirmation, image in pending]:
            future.result()

    def _settle_due(self):
        """The second looks whose time has come, taken by an image thread between two images."""
        now = time.monotonic()
        with self._pending_lock:
            due = [item for item in self._pending if item[0].due <= now]
            self._pending = [item for item in self._pending if item[0].due > now]
        for confirmation, image in due:
            self._confirm(confirmation, image)

    def _confirm(self, confirmation, image):
        source, source_ref, destination, dest_ref, result = image
        try:
            with deadline_scope(Deadline(self.options.timeout)):
                outcome = confirmation.check()
                if outcome is None:
                    return
                signed = result.digest
                apply_outcome(result, dest_ref, outcome)
                if self.after_copy is not None and result.digest != signed:
                    self.after_copy(source, source_ref, destination, dest_ref, result)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            fail_result(result, exc, "merging into %s" % dest_ref)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def copy_image(self, source, source_ref, destination, dest_ref, result=None):
        """Copy one image; never raises for a failure of this image: the result says `failed`."""
        result = result or ImageResult(source_ref, str(dest_ref))
        started = time.monotonic()
        deadline = Deadline(self.options.timeout)
        budget = RetryBudget(self.options.image_retries, "image %s" % source_ref)
        try:
            with deadline_scope(deadline), retry_budget_scope(budget):
                self._copy(source, source_ref, destination, dest_ref, result, deadline)
                if self.after_copy is not None and result.status not in (FAILED, SKIPPED):
                    self.after_copy(source, source_ref, destination, dest_ref, result)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            fail_result(result, exc, "copying %s" % source_ref)
        result.seconds = time.monotonic() - started
        self._settle_due()
        return result

    def _copy(self, source, source_ref, destination, dest_ref, result, deadline):
        top = source.top_manifest(source_ref)
        manifests = {}
        if top.is_schema1:
            conversion = convert_schema1(top, lambda digest: source.open_blob(source_ref, digest, None))
            result.converted_from_schema1 = top.digest
            result.warnings.append("%s is a Docker schema 1 image: converted to Docker schema 2, so its digest changes "
                                   "from %s to %s" % (source_ref, top.digest, conversion.manifest.digest))
            top = conversion.manifest
            extra_blobs = {conversion.config_digest: conversion.config}
            descriptors = [top.descriptor(platform=conversion.platform.to_dict())]
        else:
            extra_blobs = {}
            descriptors = None if self._platform_can_wait(top) else source.platform_descriptors(source_ref, top)
        if not top.is_index:
            manifests[top.digest] = top
        platform_pending = descriptors is None  # then read once the destination was compared
        plan = self._plan(source_ref, top, descriptors or [top.descriptor()], result)
        if plan is None:
            return
        lock_key = (destination.lock_key(dest_ref) if hasattr(destination, "lock_key")
                    else (id(destination), str(dest_ref)))
        self._tag_gate.acquire(lock_key)
        try:
            self._to_destination(source, source_ref, destination, dest_ref, result, deadline, plan, manifests,
                                 extra_blobs, platform_pending)
        finally:
            self._tag_gate.release(lock_key)

    def _to_destination(self, source, source_ref, destination, dest_ref, result, deadline, plan, manifests,
                        extra_blobs, platform_pending):
        options = self.options
        deadline.check("checking %s" % dest_ref)
        current = destination.is_current(dest_ref, plan, options)
        if platform_pending:
            if current and hasattr(destination, "held_descriptors"):
                descriptors = destination.held_descriptors(dest_ref, plan.top)
            else:
                descriptors = source.platform_descriptors(source_ref, plan.top)
            plan = self._plan(source_ref, plan.top, descriptors, result)
            if plan is None:
                return
        if current:
            result.digest = current if isinstance(current, str) else plan.top.digest
            result.before = result.after = DestinationState.of(result.digest, plan.selected)
            return
        self._push_platform_manifests(source, source_ref, destination, dest_ref, result, deadline, plan, manifests,
                                      extra_blobs)
        outcome = self._until_references_known(
            "pushing %s" % dest_ref, deadline, lambda: destination.commit(dest_ref, plan, options),
            lambda: self._push_platform_manifests_again(source, source_ref, destination, dest_ref, result, deadline,
                                                        plan, manifests, extra_blobs))
        if not isinstance(outcome, CommitOutcome):
            outcome = CommitOutcome(*outcome)
        apply_outcome(result, dest_ref, outcome)
        if outcome.confirm is not None:
            with self._pending_lock:
                self._pending.append((outcome.confirm, (source, source_ref, destination, dest_ref, result)))

    def _plan(self, source_ref, top, descriptors, result):
        """The TopPlan for the platforms the filter keeps; None, with the result skipped, for none."""
        options = self.options
        selected, pinned, dropped = choose_platforms(source_ref, top, descriptors, options)
        if dropped:
            result.warnings.append("%s is pinned by digest: copied whole, with %s, which %s would have left out"
                                   % (source_ref, ", ".join(platform_text(d) for d in dropped),
                                      options.platforms.describe()))
        if not selected:
            result.status = SKIPPED
            result.platforms = []
            result.warnings.append("%s has no platform allowed by %s; skipped"
                                   % (source_ref, options.platforms.describe()))
            return None
        set_platforms(result, selected)
        return TopPlan(top, selected, {d["digest"] for d in selected} == named_digests(top), pinned=pinned)

    def _platform_can_wait(self, top):
        """A single manifest's platform is in its config: it is read after the destination was compared,
        at the destination when that holds this very manifest (same digest, same config), so a rerun
        asks the source for the manifest only. Platform tags are named after the platform, so their
        check needs it first."""
        return not top.is_index and not top.is_schema1 and not self.options.platform_tags

    def _push_platform_manifests(self, source, source_ref, destination, dest_ref, result, deadline, plan, manifests,
                                 extra_blobs):
        """Every selected platform manifest the destination lacks, after its blobs."""
        for descriptor, platform_result in zip(plan.selected, result.platforms):
            deadline.check("copying %s" % source_ref)
            if destination.has_manifest(dest_ref, descriptor["digest"]):
                continue
            manifest = manifests.get(descriptor["digest"]) or source.get_manifest(source_ref, descriptor["digest"])
            self._copy_blobs(source, source_ref, destination, dest_ref, manifest, extra_blobs, result, deadline)
            if not self.options.check_mode:
                self._until_references_known(
                    "pushing manifest %s to %s" % (manifest.digest, dest_ref), deadline,
                    lambda manifest=manifest: destination.put_manifest(dest_ref, manifest),
                    lambda manifest=manifest: self._send_blobs_again(source, source_ref, destination, dest_ref,
                                                                     manifest, extra_blobs, result, deadline))
            result.manifests_pushed += 1
            platform_result["status"] = COPIED
            result.mark_changed()

    def _push_platform_manifests_again(self, source, source_ref, destination, dest_ref, result, deadline, plan,
                                       manifests, extra_blobs):
        """_push_platform_manifests on a fresh look at the destination, not on what this run believes."""
        forget_at(destination, dest_ref, [d["digest"] for d in plan.selected])
        self._push_platform_manifests(source, source_ref, destination, dest_ref, result, deadline, plan, manifests,
                                      extra_blobs)

    def _until_references_known(self, doing, deadline, push, repair):
        """push(), and when the registry refuses it as naming something unknown (see MANIFEST_PUT_ATTEMPTS),
        repair() (look again, send what is missing) and push() again; bounded, each retry logged and counted."""
        for attempt in range(1, MANIFEST_PUT_ATTEMPTS + 1):
            try:
                return push()
            except RegistryError as exc:
                if attempt == MANIFEST_PUT_ATTEMPTS or not names_unknown_reference(exc):
                    raise
                spend_retry("Error %s: %s" % (doing, exc))  # from the image's retry budget
                self.log("Retrying %s after: %s (attempt %d of %d failed; the destination is looked at again and "
                         "sent what it lacks)" % (doing, exc, attempt, MANIFEST_PUT_ATTEMPTS))
                with self._retries_lock:
                    self.retries += 1
            deadline.check(doing)
            time.sleep(MANIFEST_PUT_PAUSE * attempt)
            repair()
        return None  # not reached: the last attempt returns or raises

    def _send_blobs_again(self, source, source_ref, destination, dest_ref, manifest, extra_blobs, result, deadline):
        """The blobs of `manifest` the destination lacks on a fresh look (not what this run believes
        it holds), sent or mounted; counted in `result` as copied or mounted only."""
        forget_at(destination, dest_ref, [d["digest"] for d in blob_descriptors(manifest)])
        again = ImageResult(result.source_ref, result.destination)
        self._copy_blobs(source, source_ref, destination, dest_ref, manifest, extra_blobs, again, deadline)
        result.blobs_copied += again.blobs_copied
        result.bytes_copied += again.bytes_copied
        result.blobs_mounted += again.blobs_mounted

    def _copy_blobs(self, source, source_ref, destination, dest_ref, manifest, extra_blobs, result, deadline):
        descriptors = blob_descriptors(manifest)
        deadline.queued(len(descriptors))  # time spent queued behind other images' blobs does not count
        image_budget = current_retry_budget()
        futures = [self._blob_pool.submit(self._copy_blob_within, source, source_ref, destination, dest_ref,
                                          descriptor, extra_blobs, deadline, image_budget)
                   for descriptor in descriptors]
        errors = []
        for future in futures:
            try:
                outcome, size = future.result()
            except Exception as exc:  # pylint: disable=broad-exception-caught
                errors.append(exc)
                continue
            if outcome == COPIED:
                result.blobs_copied += 1
                result.bytes_copied += size
            elif outcome == MOUNTED:
                result.blobs_mounted += 1
            else:
                result.blobs_skipped += 1
        if errors:
            raise errors[0]

    def _copy_blob_within(self, source, source_ref, destination, dest_ref, descriptor, extra_blobs, deadline,
                          image_budget=None):
        """_copy_blob on a blob worker, under the image's deadline (its requests bounded by it) and the
        blob's own retry budget, which draws from the image's."""
        budget = RetryBudget(self.options.blob_retries, "blob %s of %s" % (descriptor["digest"], source_ref),
                             parent=image_budget)
        with deadline.running(), deadline_scope(deadline), retry_budget_scope(budget):
            return self._copy_blob(source, source_ref, destination, dest_ref, descriptor, extra_blobs, deadline)

    def _copy_blob(self, source, source_ref, destination, dest_ref, descriptor, extra_blobs, deadline):
        digest = descriptor["digest"]
        size = descriptor.get("size")
        key = (id(destination), digest)
        self._gate.acquire(key)
        try:
            deadline.check("copying blob %s of %s" % (digest, source_ref))
            if destination.has_blob(dest_ref, digest):
                return UNCHANGED, 0
            if self.options.check_mode:
                return COPIED, size or 0
            if destination.mount_blob(dest_ref, digest, source, source_ref):
                return MOUNTED, 0
            self._transfer_blob(source, source_ref, destination, dest_ref, descriptor, extra_blobs, deadline)
            return COPIED, size or 0
        finally:
            self._gate.release(key)

    def _transfer_blob(self, source, source_ref, destination, dest_ref, descriptor, extra_blobs, deadline):
        """Send one blob, reading the source afresh on each attempt (see BLOB_TRANSFER_RETRY)."""
        digest = descriptor["digest"]
        doing = "copying blob %s of %s" % (digest, source_ref)
        attempts = self.blob_retry.attempts
        for attempt in range(1, attempts + 1):
            reader = None
            try:
                if digest in extra_blobs:
                    reader = DeadlineReader(io.BytesIO(extra_blobs[digest]), deadline, doing)
                    destination.put_blob(dest_ref, descriptor, reader)
                else:
                    with source.open_blob(source_ref, digest, descriptor.get("size")) as stream:
                        reader = DeadlineReader(stream, deadline, doing)
                        destination.put_blob(dest_ref, descriptor, reader)
                return
            except RegistryError as exc:
                flowing = reader is not None and reader.started
                if attempt == attempts or not flowing or not is_interrupted_transfer(exc, self.blob_retry):
                    raise
                budget = current_retry_budget()
                if budget is not None:
                    try:
                        budget.spend("Error %s: %s" % (doing, exc))
                    except RetryBudgetExhausted as exhausted:
                        raise exhausted from exc
                wait = self.blob_retry.delay(attempt)
                self.log("Retrying %s after: %s (attempt %d of %d failed; next in %.1fs)"
                         % (doing, exc, attempt, attempts, wait))
                with self._retries_lock:
                    self.retries += 1
            deadline.check(doing)
            self.blob_retry.sleep(wait)


def forget_at(destination, dest_ref, digests):
    """Make a destination that remembers what it holds (registry_store.forget_blobs) look again."""
    forget = getattr(destination, "forget_blobs", None)
    if forget is not None:
        forget(dest_ref, digests)


def apply_outcome(result, dest_ref, outcome):
    """A destination's CommitOutcome into the image's result (again, when a second look replaced it)."""
    result.digest = outcome.digest
    result.before, result.after = outcome.before, outcome.after
    if outcome.concurrent_changes:
        prefix = "%s was changed by another run meanwhile" % dest_ref
        result.concurrent_changes = outcome.concurrent_changes
        result.warnings = [w for w in result.warnings if not w.startswith(prefix)]
        result.warnings.append("%s: merged with that change (%d time%s)" % (
            prefix, outcome.concurrent_changes, "" if outcome.concurrent_changes == 1 else "s"))
    if outcome.changed:
        result.mark_changed()


def set_platforms(result, descriptors):
    result.platforms = [{"platform": str(Platform.from_dict(d.get("platform"))), "digest": d["digest"],
                         "status": UNCHANGED} for d in descriptors]


def fail_result(result, exc, doing):
    """Mark one image's result failed by `exc`: our errors with their message, anything else (OSError,
    RecursionError, KeyError, a JSON error) with a message naming the image, never a traceback."""
    result.status = FAILED
    if isinstance(exc, HangarError):
        result.error = str(exc)
    else:
        result.error = "Error %s: %s" % (doing, describe_unexpected(exc))


def contained(work):
    """work(item), where any exception fails that item's result instead of the run: the others go on."""
    def run(item):
        try:
            return work(item)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            fail_result(item, exc, "copying %s" % getattr(item, "source_ref", item))
            return item
    return run


def run_parallel(items, work, jobs):
    """work(item) for every item, `jobs` at a time; results in the order of items. An exception of one
    item fails that item only (see contained)."""
    work = contained(work)
    if jobs <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="hangar-image") as pool:
        return list(pool.map(work, items))
