# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the copy engine passes between sources, destinations and callers (private module_utils, no Ansible imports)."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

from .._errors import HangarError
from .._image.platform import Platform, PlatformFilter, attestation_subject, is_attestation

COPIED = "copied"
UNCHANGED = "unchanged"
SKIPPED = "skipped"
FAILED = "failed"
MOUNTED = "mounted"
SIGNED = "signed"


class DeadlineExceeded(HangarError):
    pass


@dataclass
class CopyOptions:
    platforms: PlatformFilter = field(default_factory=PlatformFilter)
    provenance: bool = True
    overwrite: bool = False
    platform_tags: bool = False
    check_mode: bool = False
    timeout: float = 600.0
    blob_jobs: int = 4
    # Retries (of every request, resume and whole-blob transfer) one blob may take, and one image with all
    # its blobs and manifests; see _registry.retry.RetryBudget. Through the fault tests' link (10 % of
    # requests 503/429, 5 % reset) with 8 blob workers, 90 seeded runs used at most 8 for a blob and 20
    # for an image: these leave a margin of half again and twice that, and stop an image that keeps
    # failing after about three blobs' worth of full per-request retries (4 each, RetryPolicy.attempts).
    blob_retries: int = 12
    image_retries: int = 40
    merge_attempts: int = 5  # pushes of a merged index per tag before a run gives up on concurrent changes


class Deadline:
    """The per-image deadline; checked between requests and between chunks of a blob, and bounding every
    request's timeouts (see _registry.transport.deadline_scope).

    While every blob of the image still waits in the shared blob queue behind other images (none of them
    running, the image's own thread waiting for them), the clock stands still: an image is not timed out
    for the time the others took.
    """

    def __init__(self, seconds, start=None, clock=time.monotonic):
        self.seconds = seconds
        self._clock = clock
        self.start = clock() if start is None else start
        self._lock = threading.Lock()
        self._waiting = 0  # blobs queued, not started
        self._running = 0  # blobs being copied
        self._paused = 0.0  # seconds the clock stood still
        self._paused_since = None

    def elapsed(self):
        with self._lock:
            now = self._clock()
            paused = self._paused + (now - self._paused_since if self._paused_since is not None else 0.0)
            return now - self.start - paused

    def remaining(self):
        return self.seconds - self.elapsed()

    def check(self, doing="copying"):
        if self.elapsed() > self.seconds:
            raise DeadlineExceeded("Error %s: timed out after %s (timeout)" % (doing, format_seconds(self.seconds)))

    def queued(self, count):
        """`count` blobs were queued and the image's thread waits for them: stop the clock until one runs."""
        with self._lock:
            self._waiting += count
            if count and self._running == 0 and self._paused_since is None:
                self._paused_since = self._clock()

    @contextlib.contextmanager
    def running(self):
        """A queued blob runs: the clock goes while it does."""
        with self._lock:
            self._waiting = max(0, self._waiting - 1)
            self._running += 1
            if self._paused_since is not None:
                self._paused += self._clock() - self._paused_since
                self._paused_since = None
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0 and self._waiting > 0:
                    self._paused_since = self._clock()


def format_seconds(seconds):
    if seconds >= 60 and seconds % 60 == 0:
        return "%dm" % (seconds // 60)
    return "%gs" % seconds


@dataclass
class TopPlan:
    """What the destination is asked to make its tag point at.

    top: the source's top-level manifest (index, list or single manifest) as bytes;
    selected: the platform descriptors copied (attestations included), in source order;
    whole: True when `selected` is exactly what `top` names, so `top` can be pushed unchanged;
    pinned: the source reference names `top` by digest: `top` replaces whatever the tag holds.
    """
    top: object
    selected: list
    whole: bool
    pinned: bool = False


@dataclass(frozen=True)
class DestinationState:
    """What a destination holds for one reference: the digest the tag (or archive entry) names and
    its platforms. The before/after pair of an image is the one record that `changed`, `diff` and the
    message are made from."""
    digest: str | None = None
    platforms: tuple = ()

    @classmethod
    def of(cls, digest, descriptors):
        return cls(digest, tuple(platform_text(d) for d in descriptors or ()))

    def as_dict(self):
        return {"digest": self.digest, "platforms": list(self.platforms)}


def platform_text(descriptor):
    """`linux/arm/v7` for a platform manifest, `attestation of sha256:...` for an attestation,
    `unknown/unknown` for an artifact without a platform."""
    if is_attestation(descriptor):
        return "attestation of %s" % attestation_subject(descriptor)
    return str(Platform.from_dict(descriptor.get("platform")))


@dataclass
class CommitOutcome:
    """What a destination's commit did: whether it changed anything, the digest now named, the
    state before and after, and how many times a concurrent change of the tag had to be merged.

    `confirm`, when set, is the PendingConfirmation a merge still needs (see registry_store.py)."""
    changed: bool
    digest: str | None
    before: DestinationState | None = None
    after: DestinationState | None = None
    concurrent_changes: int = 0
    confirm: object = None


@dataclass
class PendingConfirmation:
    """The second look a merge pushed into a tag still needs, not before `due` (time.monotonic()):
    check() returns None when the tag kept what was pushed, or the CommitOutcome that replaces the
    commit's. The engine takes it once other work is done, so that no image waits for it."""
    due: float
    check: object


def result_head(result):
    """The keys every per-image result starts with: what the image is, where it went, how it ended."""
    return {
        "source": result.source_ref.name,
        "tag": result.source_ref.tag,
        "reference": str(result.source_ref),
        "destination": result.destination,
        "status": result.status,
    }


@dataclass
class ImageResult:
    """The outcome for one image. `source_ref` is the ImageReference copied from; `destination`
    says where it went (a reference, or the archive path)."""
    source_ref: object
    destination: str
    status: str = UNCHANGED
    digest: str | None = None
    platforms: list = field(default_factory=list)
    error: str | None = None
    warnings: list = field(default_factory=list)
    bytes_copied: int = 0
    blobs_copied: int = 0
    blobs_mounted: int = 0
    blobs_skipped: int = 0
    manifests_pushed: int = 0
    seconds: float = 0.0
    converted_from_schema1: str | None = None
    entry: object = None  # the list entry (image-list line) this result is for, for failed_file
    dest_ref: object = None
    before: DestinationState | None = None  # what the destination held for this image before the run
    after: DestinationState | None = None   # and after it (in check mode: what it would hold)
    concurrent_changes: int = 0             # merges redone because another run changed the tag meanwhile
    signatures: list = field(default_factory=list)  # signing_step.py: {"digest", "identity", "status"}
    artifacts: list = field(default_factory=list)  # artifacts.py: {"subject", "digest", "tag", "status"}

    def mark_changed(self):
        if self.status == UNCHANGED:
            self.status = COPIED

    @property
    def supply_chain_changed(self):
        """True when a signature or an artifact was (or, in check mode, would be) written."""
        return any(item.get("status") in (SIGNED, COPIED) for item in self.signatures + self.artifacts)

    def as_dict(self):
        result = result_head(self)
        result.update({
            "digest": self.digest,
            "platforms": self.platforms,
            "bytes": self.bytes_copied,
            "blobs_copied": self.blobs_copied,
            "blobs_mounted": self.blobs_mounted,
            "blobs_skipped": self.blobs_skipped,
            "manifests_pushed": self.manifests_pushed,
            "seconds": round(self.seconds, 3),
        })
        if self.error:
            result["error"] = self.error
        if self.warnings:
            result["warnings"] = self.warnings
        if self.converted_from_schema1:
            result["converted_from_schema1"] = self.converted_from_schema1
        if self.concurrent_changes:
            result["concurrent_changes"] = self.concurrent_changes
        if self.signatures:
            result["signatures"] = self.signatures
        if self.artifacts:
            result["artifacts"] = self.artifacts
        return result
