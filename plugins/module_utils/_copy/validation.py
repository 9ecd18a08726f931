# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proving that a target holds what a source holds, platform digest by platform digest
(private module_utils, no Ansible imports).

The source is a registry or an archive; the target is a registry or an archive. Both are read
through the same stores the copy engine uses, and nothing is ever written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .._errors import HangarError, NotFoundError
from .._image.platform import Platform, is_attestation
from .._image.schema1 import convert_schema1
from .engine import choose_platforms
from .model import FAILED, Deadline, result_head

PASSED = "passed"


@dataclass
class ValidationResult:
    source_ref: object
    destination: str
    dest_ref: object = None
    entry: object = None
    status: str = PASSED
    reason: str | None = None
    platforms: list = field(default_factory=list)
    seconds: float = 0.0
    signatures: list = field(default_factory=list)  # signature_validation.py

    def fail(self, reason):
        self.status = FAILED
        self.reason = reason

    def as_dict(self):
        result = result_head(self)
        result.update(platforms=self.platforms, seconds=round(self.seconds, 3))
        if self.reason:
            result["reason"] = self.reason
        if self.signatures:
            result["signatures"] = self.signatures
        return result


def compare_platforms(expected, present):
    """Per expected descriptor: (platform text, digest, `present`, `missing` or `mismatch`, found digest)."""
    present_digests = {d["digest"] for d in present}
    by_platform = {Platform.from_dict(d.get("platform")).key: d["digest"] for d in present
                   if d.get("platform") and not is_attestation(d)}
    rows = []
    for descriptor in expected:
        platform = descriptor.get("platform")
        text = "attestation of %s" % (descriptor.get("annotations") or {}).get("vnd.docker.reference.digest") \
            if is_attestation(descriptor) else str(Platform.from_dict(platform))
        if descriptor["digest"] in present_digests:
            rows.append((text, descriptor["digest"], "present", None))
        elif platform and not is_attestation(descriptor) and Platform.from_dict(platform).key in by_platform:
            rows.append((text, descriptor["digest"], "mismatch", by_platform[Platform.from_dict(platform).key]))
        else:
            rows.append((text, descriptor["digest"], "missing", None))
    return rows


def _reason(rows, target):
    problems = []
    for text, digest, state, found in rows:
        if state == "mismatch":
            problems.append("platform mismatch: %s is %s at %s, expected %s" % (text, found, target, digest))
        elif state == "missing":
            problems.append("digest missing: %s %s not at %s" % (text, digest, target))
    return "; ".join(problems) or None


class MissingArchive:
    """The target of a save validation whose archive does not exist: every image's target is missing."""

    def __init__(self, path):
        self.path = path

    def current_descriptors(self, ref):
        raise NotFoundError("archive %s does not exist" % self.path)


def expected_descriptors(source, source_ref, options):
    """What a copy of `source_ref` puts at its destination, chosen as the copy engine chooses: the
    allowed platforms, or everything for a digest pin; a Docker schema 1 image as its conversion."""
    top = source.top_manifest(source_ref)
    if top.is_schema1:
        conversion = convert_schema1(top, lambda digest: source.open_blob(source_ref, digest, None))
        top = conversion.manifest
        descriptors = [top.descriptor(platform=conversion.platform.to_dict())]
    else:
        descriptors = source.platform_descriptors(source_ref, top)
    return choose_platforms(source_ref, top, descriptors, options)[0]


def validate_image(source, target, result, options):
    """Fill `result`: passed when every platform digest a copy of the source puts at the target is there."""
    started = time.monotonic()
    deadline = Deadline(options.timeout)
    try:
        try:
            expected = expected_descriptors(source, result.source_ref, options)
        except NotFoundError as exc:
            result.fail("source missing: %s" % exc)
            return result
        if not expected:
            result.reason = "no platform allowed by %s; nothing to compare" % options.platforms.describe()
            return result
        deadline.check("validating %s" % result.destination)
        try:
            present = target.current_descriptors(result.dest_ref)
        except NotFoundError as exc:
            result.fail("target missing: %s" % exc)
            return result
        if present is None:
            result.fail("tag missing: %s (the target does not have it)" % result.destination)
            return result
        rows = compare_platforms(expected, present)
        result.platforms = [{"platform": text, "digest": digest, "status": state}
                            for text, digest, state, _unused in rows]
        reason = _reason(rows, result.destination)
        if reason:
            result.fail(reason)
    except HangarError as exc:
        result.fail(str(exc))
    finally:
        result.seconds = time.monotonic() - started
    return result
