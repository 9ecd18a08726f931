# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The copy engine: one image from a source store to a destination store (private module_utils, no Ansible imports).

A source offers `top_manifest(ref)`, `platform_descriptors(ref, top)`, `get_manifest(ref, digest)` and
`open_blob(ref, digest, size)`. A destination offers `is_current(ref, plan, options)`,
`has_manifest(ref, digest)`, `has_blob(ref, digest)`, `mount_blob(ref, digest, source, source_ref)`,
`put_blob(ref, descriptor, reader)`, `put_manifest(ref, manifest)` and `commit(ref, plan, options)`.
The registry and the archive implement both sides (_registry_store.py, _archive_store.py).
"""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from .._errors import AuthenticationError, HangarError, NotFoundError, RegistryError, TLSError
from .._image.manifest import blob_descriptors
from .._image.platform import Platform, attestation_subject, is_attestation
from .._image.schema1 import convert_schema1
from .._registry.retry import RetryPolicy
from .model import COPIED, FAILED, MOUNTED, SKIPPED, UNCHANGED, Deadline, ImageResult, TopPlan

# A blob transfer broken off once its bytes were flowing cannot be resumed: it is retried whole, from
# a fresh read of the source into a fresh upload session. A failure before that (opening the source,
# opening the upload session) comes from a request the client has retried already.
BLOB_TRANSFER_RETRY = RetryPolicy()


def select_platforms(descriptors, platforms, provenance):
    """The platform descriptors that pass the allow-lists, with the attestations of those platforms
    when `provenance` is set. Descriptors without a platform (OCI artifacts) always pass. Order stays
    the source's."""
    chosen = {d["digest"] for d in descriptors
              if not is_attestation(d)
              and (not d.get("platform") or platforms.allows(Platform.from_dict(d["platform"])))}
    return [d for d in descriptors
            if d["digest"] in chosen or (provenance and is_attestation(d) and attestation_subject(d) in chosen)]


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
        self._blob_pool = ThreadPoolExecutor(max_workers=max(1, options.blob_jobs), thread_name_prefix="hangar-blob")

    def close(self):
        self._blob_pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def copy_image(self, source, source_ref, destination, dest_ref, result=None):
        """Copy one image; never raises for a failure of this image: the result says `failed`."""
        result = result or ImageResult(source_ref, str(dest_ref))
        started = time.monotonic()
        try:
            self._copy(source, source_ref, destination, dest_ref, result, Deadline(self.options.timeout))
            if self.after_copy is not None and result.status not in (FAILED, SKIPPED):
                self.after_copy(source, source_ref, destination, dest_ref, result)
        except HangarError as exc:
            result.status = FAILED
            result.error = str(exc)
        result.seconds = time.monotonic() - started
        return result

    def _copy(self, source, source_ref, destination, dest_ref, result, deadline):
        options = self.options
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
            descriptors = source.platform_descriptors(source_ref, top)
        if not top.is_index:
            manifests[top.digest] = top
        selected = select_platforms(descriptors, options.platforms, options.provenance)
        if not selected:
            result.status = SKIPPED
            result.warnings.append("%s has no platform allowed by %s; skipped"
                                   % (source_ref, options.platforms.describe()))
            return
        plan = TopPlan(top, selected, {d["digest"] for d in selected} == named_digests(top))
        result.platforms = [{"platform": str(Platform.from_dict(d.get("platform"))), "digest": d["digest"],
                             "status": UNCHANGED} for d in selected]
        deadline.check("checking %s" % dest_ref)
        if destination.is_current(dest_ref, plan, options):
            result.digest = top.digest
            return
        for descriptor, platform_result in zip(selected, result.platforms):
            deadline.check("copying %s" % source_ref)
            if destination.has_manifest(dest_ref, descriptor["digest"]):
                continue
            manifest = manifests.get(descriptor["digest"]) or source.get_manifest(source_ref, descriptor["digest"])
            self._copy_blobs(source, source_ref, destination, dest_ref, manifest, extra_blobs, result, deadline)
            if not options.check_mode:
                destination.put_manifest(dest_ref, manifest)
            result.manifests_pushed += 1
            platform_result["status"] = COPIED
            result.mark_changed()
        changed, digest = destination.commit(dest_ref, plan, options)
        result.digest = digest
        if changed:
            result.mark_changed()

    def _copy_blobs(self, source, source_ref, destination, dest_ref, manifest, extra_blobs, result, deadline):
        futures = [self._blob_pool.submit(self._copy_blob, source, source_ref, destination, dest_ref, descriptor,
                                          extra_blobs, deadline)
                   for descriptor in blob_descriptors(manifest)]
        errors = []
        for future in futures:
            try:
                outcome, size = future.result()
            except HangarError as exc:
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
                wait = self.blob_retry.delay(attempt)
                self.log("Retrying %s after: %s (attempt %d of %d failed; next in %.1fs)"
                         % (doing, exc, attempt, attempts, wait))
                with self._retries_lock:
                    self.retries += 1
            deadline.check(doing)
            self.blob_retry.sleep(wait)


def run_parallel(items, work, jobs):
    """work(item) for every item, `jobs` at a time; results in the order of items."""
    if jobs <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="hangar-image") as pool:
        return list(pool.map(work, items))
