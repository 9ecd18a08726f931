# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the copy engine passes between sources, destinations and callers (private module_utils, no Ansible imports)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .._errors import HangarError
from .._image.platform import PlatformFilter

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


@dataclass
class Deadline:
    """The per-image deadline; checked between requests and between chunks of a blob."""
    seconds: float
    start: float = field(default_factory=time.monotonic)

    def check(self, doing="copying"):
        if time.monotonic() - self.start > self.seconds:
            raise DeadlineExceeded("Error %s: timed out after %s (timeout)" % (doing, format_seconds(self.seconds)))


def format_seconds(seconds):
    if seconds >= 60 and seconds % 60 == 0:
        return "%dm" % (seconds // 60)
    return "%gs" % seconds


@dataclass
class TopPlan:
    """What the destination is asked to make its tag point at.

    top: the source's top-level manifest (index, list or single manifest) as bytes;
    selected: the platform descriptors copied (attestations included), in source order;
    whole: True when `selected` is exactly what `top` names, so `top` can be pushed unchanged.
    """
    top: object
    selected: list
    whole: bool


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
        if self.signatures:
            result["signatures"] = self.signatures
        if self.artifacts:
            result["artifacts"] = self.artifacts
        return result
