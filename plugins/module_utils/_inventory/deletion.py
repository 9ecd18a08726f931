# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deleting an image from a registry, or some platforms of its index (private module_utils, no Ansible
imports).

The distribution API deletes manifests by digest only, and deleting one removes every tag naming
it; so before deleting, the other tags of the repository are read, and the deletion is refused
when one of them names the same manifest or an index that lists it, unless forced. Removing
platforms rewrites the tag's index by the destination-index rules of a load (index_merge.py: the
platforms' attestations go with them, the result is an OCI index) and pushes it to the tag.
Platform manifests and blobs left without a tag stay in the registry until its garbage collection.

What the registry held before and holds after is recorded once (ImageChange), so `changed`, the
diff and the message cannot disagree.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .._errors import InputError, NotFoundError, RegistryError
from .._image.artifact_tags import is_artifact_tag
from .._image.index_merge import build_index, merge_descriptors
from .._image.manifest import Manifest
from .._image.media_types import INDEX_TYPES, OCI_INDEX
from .._image.platform import Platform, PlatformFilter, is_attestation
from .inspection import IMAGE_CONFIG_TYPES, registry_digest, top_manifest

_PLATFORM_SPEC_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*(?:/[a-z0-9][a-z0-9._-]*)?$")
TAG_READ_JOBS = 8
MAX_REWRITES = 5
DELETE_HINT = ("enable deletion in the registry's configuration (docker-registry: storage.delete.enabled: true, "
               "or REGISTRY_STORAGE_DELETE_ENABLED=true)")


@dataclass(frozen=True)
class ImageState:
    """What a reference names in the registry: nothing, or a manifest and its platforms."""

    exists: bool
    digest: str | None = None
    media_type: str | None = None
    platforms: tuple = ()  # ("linux/amd64", "sha256:...") pairs, index order

    def as_dict(self):
        return {"exists": self.exists, "digest": self.digest, "media_type": self.media_type,
                "platforms": [{"platform": name, "digest": digest} for name, digest in self.platforms]}

    def as_text(self, reference):
        if not self.exists:
            return "%s: absent\n" % reference
        lines = ["%s:" % reference, "  digest: %s" % self.digest, "  media_type: %s" % self.media_type]
        if self.platforms:
            lines.append("  platforms:")
            lines.extend("    - %s %s" % pair for pair in self.platforms)
        return "\n".join(lines) + "\n"


@dataclass
class ImageChange:
    """One reference before and after; `changed` is whether they differ."""

    reference: str
    before: ImageState
    after: ImageState
    msg: str = ""
    deleted: str | None = None  # the manifest digest deleted
    tags_removed: list = field(default_factory=list)
    platforms_removed: list = field(default_factory=list)
    attestations_removed: list = field(default_factory=list)

    @property
    def changed(self):
        return self.before != self.after

    def diff(self):
        return {"before": self.before.as_text(self.reference), "after": self.after.as_text(self.reference),
                "before_header": "%s (before)" % self.reference, "after_header": "%s (after)" % self.reference}

    def as_dict(self):
        return {"reference": self.reference, "before": self.before.as_dict(), "after": self.after.as_dict(),
                "deleted": self.deleted, "tags_removed": list(self.tags_removed),
                "platforms_removed": list(self.platforms_removed),
                "attestations_removed": list(self.attestations_removed)}


def parse_platform_specs(specs):
    """[(spec, PlatformFilter)] for `os/arch[/variant]` strings; InputError naming a bad one."""
    result = []
    for spec in specs or []:
        text = spec.strip() if isinstance(spec, str) else spec
        if not isinstance(text, str) or not _PLATFORM_SPEC_RE.match(text):
            raise InputError("invalid platform %r: expected os/arch or os/arch/variant, such as linux/arm64 or "
                             "linux/arm/v7" % (spec,))
        os_name, _unused, arch = text.partition("/")
        result.append((text, PlatformFilter(arch=[arch], os=[os_name])))
    return result


def _platform_pairs(descriptors):
    return tuple((str(Platform.from_dict(d.get("platform"))), d.get("digest"))
                 for d in descriptors if not is_attestation(d))


def _single_platform(client, ref, manifest):
    """The platform of a single image manifest, from its config (the empty Platform when it has none)."""
    if manifest.is_schema1:
        return Platform(os="linux", architecture=manifest.doc.get("architecture") or "")
    config = manifest.config
    if config.get("mediaType") not in IMAGE_CONFIG_TYPES or not config.get("digest"):
        return Platform()
    try:
        return Platform.from_config(_json_object(client.get_blob(ref.repository, config["digest"])))
    except NotFoundError:
        return Platform()


def _json_object(data):
    try:
        document = json.loads(data)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def state_of(client, ref, manifest):
    if manifest is None:
        return ImageState(False)
    if manifest.is_index:
        pairs = _platform_pairs(manifest.children)
    else:
        platform = _single_platform(client, ref, manifest)
        pairs = ((str(platform), registry_digest(manifest)),) if platform.architecture else ()
    return ImageState(True, registry_digest(manifest), manifest.media_type, pairs)


def manifest_users(client, ref, digest):
    """(tags naming `digest`, tags whose index lists `digest`) among the repository's tags other than
    ref.tag; cosign and referrers tags are left out (they name other manifests by construction)."""
    try:
        tags = client.list_tags(ref.repository)
    except NotFoundError:
        tags = []
    others = sorted(tag for tag in set(tags) if tag != ref.tag and not is_artifact_tag(tag))

    def read(tag):
        head = client.head_manifest(ref.repository, tag)
        if head is None:
            return tag, None, False
        if head["digest"] == digest:
            return tag, True, False
        if head["mediaType"] not in INDEX_TYPES:
            return tag, False, False
        try:
            index = client.get_manifest(ref.repository, head["digest"])
        except NotFoundError:
            return tag, False, False
        return tag, False, any(child.get("digest") == digest for child in index.children)

    if len(others) > 1:
        with ThreadPoolExecutor(max_workers=min(TAG_READ_JOBS, len(others)),
                                thread_name_prefix="hangar-tags") as pool:
            answers = list(pool.map(read, others))
    else:
        answers = [read(tag) for tag in others]
    same = [tag for tag, is_same, _unused in answers if is_same]
    listing = [tag for tag, _unused, lists in answers if lists]
    return same, listing


def _delete(client, ref, digest):
    """DELETE the manifest; False when it was gone already. The 405 of a registry with deletion
    disabled becomes a message saying so."""
    try:
        client.delete_manifest(ref.repository, digest)
    except NotFoundError:
        return False
    except RegistryError as exc:
        if exc.status == 405 or exc.code == "UNSUPPORTED":
            raise RegistryError("Error deleting %s@%s: %s does not allow deleting manifests (HTTP %s %s); %s"
                                % (ref.name, digest, client.registry, exc.status, exc.code or "UNSUPPORTED",
                                   DELETE_HINT), status=exc.status, code=exc.code, registry=exc.registry) from exc
        raise
    return True


def _require_one_reference(ref, line):
    if ref.tag and ref.digest:
        raise InputError("invalid name %r: give a tag or a digest, not both (a tag is deleted through the "
                         "digest it names)" % (line,))


def delete_image(client, ref, line=None, force=False, check_mode=False):
    """Delete the manifest the tag (or digest) `ref` names. Refused when other tags name it or an
    index at another tag lists it, unless `force`. Returns an ImageChange."""
    line = line or str(ref)
    _require_one_reference(ref, line)
    manifest = top_manifest(client, ref)
    before = state_of(client, ref, manifest)
    if manifest is None:
        return ImageChange(str(ref), before, before, msg="%s is absent already" % ref)
    digest = before.digest
    same, listing = manifest_users(client, ref, digest)
    if (same or listing) and not force:
        reasons = []
        if same:
            reasons.append("the tag%s %s name%s the same manifest and would be deleted with it"
                           % ("s" if len(same) > 1 else "", ", ".join(same), "" if len(same) > 1 else "s"))
        if listing:
            reasons.append("the index%s at %s list%s it and would be left broken"
                           % ("es" if len(listing) > 1 else "", ", ".join(listing), "" if len(listing) > 1 else "s"))
        raise InputError("Error deleting %s (%s): %s; set force: true to delete it anyway"
                         % (ref, digest, " and ".join(reasons)))
    tags_removed = ([ref.tag] if ref.tag else []) + same
    change = ImageChange(str(ref), before, ImageState(False), deleted=digest, tags_removed=tags_removed)
    if check_mode:
        change.msg = "Would delete %s (%s)%s" % (ref, digest, _also(same))
        return change
    if not _delete(client, ref, digest):
        # Someone else deleted it between our read and our DELETE: nothing was changed by this run.
        change.before = change.after = ImageState(False)
        change.msg = "%s was deleted meanwhile by someone else" % ref
        return change
    now = top_manifest(client, ref)
    if now is not None and registry_digest(now) == digest:
        raise RegistryError("Error deleting %s (%s): the registry accepted the deletion but still serves the "
                            "manifest" % (ref, digest), registry=client.registry)
    change.after = state_of(client, ref, now)
    change.msg = "Deleted %s (%s)%s" % (ref, digest, _also(same))
    return change


def _also(tags):
    return "; also removed the tag%s %s" % ("s" if len(tags) > 1 else "", ", ".join(tags)) if tags else ""


def remove_platforms(client, ref, specs, line=None, check_mode=False):
    """Remove the platforms matching `specs` (`os/arch[/variant]`) from the index at tag `ref`, with
    their attestations. Returns an ImageChange; unchanged when none of them is there."""
    line = line or str(ref)
    _require_one_reference(ref, line)
    if ref.digest:
        raise InputError("invalid name %r: removing platforms rewrites a tag's index; a digest names fixed "
                         "content, give a tag" % (line,))
    matchers = parse_platform_specs(specs)
    if not matchers:
        raise InputError("Error removing platforms from %s: platforms is empty; leave it out to delete the tag"
                         % ref)
    manifest = top_manifest(client, ref)
    before = state_of(client, ref, manifest)
    unchanged = ImageChange(str(ref), before, before)
    if manifest is None:
        unchanged.msg = "%s is absent already" % ref
        return unchanged

    def matches(descriptor):
        platform = Platform.from_dict(descriptor.get("platform"))
        return not is_attestation(descriptor) and bool(descriptor.get("platform")) and \
            any(matcher.allows(platform) for _spec, matcher in matchers)

    if not manifest.is_index:
        platform = _single_platform(client, ref, manifest)
        if platform.architecture and any(matcher.allows(platform) for _spec, matcher in matchers):
            raise InputError("Error removing platforms from %s: it is a single-platform image (%s); removing that "
                             "platform would leave nothing; leave platforms out to delete the tag"
                             % (ref, platform))
        unchanged.msg = "%s holds none of the platforms %s" % (ref, ", ".join(s for s, _m in matchers))
        return unchanged
    children = manifest.children
    removed = [d for d in children if matches(d)]
    if not removed:
        unchanged.msg = "%s holds none of the platforms %s" % (ref, ", ".join(s for s, _m in matchers))
        return unchanged
    wanted, kept = _without(ref, manifest, matches)
    kept_digests = {d.get("digest") for d in kept}
    change = ImageChange(
        str(ref), before, ImageState(True, wanted.digest, OCI_INDEX, _platform_pairs(kept)),
        platforms_removed=[str(Platform.from_dict(d.get("platform"))) for d in removed],
        attestations_removed=[d.get("digest") for d in children if is_attestation(d)
                              and d.get("digest") not in kept_digests])
    what = "%s from %s" % (", ".join(change.platforms_removed), ref)
    if check_mode:
        change.msg = "Would remove %s (new index %s)" % (what, wanted.digest)
        return change
    now = _rewrite(client, ref, manifest, wanted, matches)
    change.after = state_of(client, ref, now)
    change.msg = "Removed %s (new index %s)" % (what, now.digest)
    return change


def _without(ref, index, matches):
    """(the OCI index of `index` without the matching platforms and their attestations, its descriptors)."""
    kept = merge_descriptors([d for d in index.children if not matches(d)], [])
    if not any(not is_attestation(d) for d in kept):
        raise InputError("Error removing platforms from %s: that would remove every platform of the index; leave "
                         "platforms out to delete the tag" % ref)
    return Manifest.from_bytes(build_index(kept), OCI_INDEX), kept


def _rewrite(client, ref, read, wanted, matches):
    """Push `wanted` (computed from `read`) to the tag, and converge with other runs rewriting it:
    push only while the tag still names what was read, read it back, and when the platforms are
    there again (a run that read the older index pushed after us), remove them from what is there.
    Returns the index the tag names at the end. A write landing between our check and our push
    can still be lost; a per-tag lock around the whole (as merges take) would close that."""
    for _attempt in range(MAX_REWRITES):
        current = client.head_manifest(ref.repository, ref.tag)
        if current is not None and current["digest"] == read.digest:
            client.put_manifest(ref.repository, ref.tag, wanted.data, OCI_INDEX)
        now = top_manifest(client, ref)
        if now is None:
            raise RegistryError("Error removing platforms from %s: the tag was deleted meanwhile" % ref,
                                registry=client.registry)
        if not now.is_index or not any(matches(d) for d in now.children):
            return now
        read = now
        wanted = _without(ref, now, matches)[0]
    raise RegistryError("Error removing platforms from %s: other runs kept rewriting the tag; run again" % ref,
                        registry=client.registry)
