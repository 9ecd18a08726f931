# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A registry as a source and as a destination of the copy engine (private module_utils, no Ansible imports).

The destination side carries the destination-index rules of BEHAVIOUR.md: push the source's own
top-level manifest when the whole image was copied and nothing else must be kept at the tag;
otherwise build an OCI index merged with what the tag holds (unless overwrite), and push nothing
when that equals what is there.

A registry has no compare-and-swap for tags, so a merge is checked after the push: the tag is read
again, and when another run changed it meanwhile (its push landed between our read and our push, or
right after), the merge is redone on what the tag holds now and pushed again, a bounded number of
times. A merge that pushed is confirmed twice, the second time after a pause as long as twice its own
read-push-read took, which is what another run's stale read-modify-push needs to land. That second
look is left to the engine (CommitOutcome.confirm), which takes it once its other work is done, so
no image waits out the pause.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time

from .._errors import NotFoundError, RegistryError
from .._image.digest import VerifyingReader
from .._image.index_merge import build_index, merge_descriptors, same_descriptors
from .._image.manifest import Manifest
from .._image.media_types import DOCKER_CONFIG, OCI_CONFIG, OCI_INDEX
from .._image.platform import Platform, is_attestation
from .model import CommitOutcome, DestinationState, PendingConfirmation

IMAGE_CONFIG_TYPES = (DOCKER_CONFIG, OCI_CONFIG)
SETTLE_MIN_SECONDS = 0.05
SETTLE_MAX_SECONDS = 2.0


def platform_tag(tag, descriptor):
    """Hangar's per-platform tag: `<tag>-<os>-<arch>[-<variant>]`; `.att` for an attestation."""
    platform = Platform.from_dict(descriptor.get("platform"))
    if is_attestation(descriptor):
        return None
    name = "%s-%s-%s" % (tag, platform.os, platform.architecture)
    if platform.variant:
        name += "-" + platform.variant
    return name


class RegistryStore:
    def __init__(self, client):
        self.client = client
        self._known_blobs = {}  # digest -> a repository of this registry known to hold it
        self._configs = {}  # (repository, digest) -> config bytes read for a platform, served once more
        # repository -> whether it was unknown to the registry when first checked: then it holds only what
        # this run pushed there (or, racing, what another run did: sent once more, never lost), so its
        # blobs and manifests need no HEAD
        self._new_repositories = {}
        self._pushed_manifests = set()  # (repository, digest)
        self._tag_pushes = {}  # (repository, tag) -> digest this run pushed there last
        self._lock = threading.Lock()

    @property
    def registry(self):
        return self.client.registry

    # ---- source side -------------------------------------------------------------------------

    def top_manifest(self, ref):
        return self.client.get_manifest(ref.repository, ref.reference)

    def get_manifest(self, ref, digest):
        return self.client.get_manifest(ref.repository, digest)

    def open_blob(self, ref, digest, size):
        with self._lock:
            config = self._configs.pop((ref.repository, digest), None)
        if config is not None:  # read (and verified) for its platform already: not fetched twice
            return contextlib.nullcontext(VerifyingReader(io.BytesIO(config), digest, size, what="config " + digest))
        return self.client.open_blob(ref.repository, digest, size)

    def platform_descriptors(self, ref, top):
        """Descriptors of the platform manifests `top` stands for, platforms completed from configs
        where an index leaves out what the config says (Windows os.version, arm variant)."""
        if not top.is_index:
            return [top.descriptor(platform=self._config_platform(ref, top))]
        result = []
        for descriptor in top.children:
            platform = descriptor.get("platform") or {}
            if _incomplete(platform) and not is_attestation(descriptor):
                child = self.client.get_manifest(ref.repository, descriptor["digest"])
                completed = Platform.from_dict(platform).completed_from(
                    Platform.from_dict(self._config_platform(ref, child) or {}))
                descriptor = dict(descriptor, platform=completed.to_dict())
            result.append(descriptor)
        return result

    def _config_platform(self, ref, manifest, keep=True):
        """The platform an image's config declares; None for artifacts (Helm charts, signatures).
        With keep, the config is kept for the one open_blob that copies it."""
        config = manifest.config
        if config.get("mediaType") not in IMAGE_CONFIG_TYPES or not config.get("digest"):
            return None
        data = self.client.get_blob(ref.repository, config["digest"])
        if keep:
            with self._lock:
                self._configs[(ref.repository, config["digest"])] = data
        try:
            doc = json.loads(data)
        except ValueError:
            return None
        if not isinstance(doc, dict) or not doc.get("architecture"):
            return None
        return Platform.from_config(doc).to_dict()

    # ---- destination side --------------------------------------------------------------------

    def held_descriptors(self, ref, top):
        """The descriptor of the single manifest `top` this registry holds, its platform read here."""
        return [top.descriptor(platform=self._config_platform(ref, top, keep=False))]

    def lock_key(self, ref):
        return ("registry", self.registry, ref.repository, ref.tag or ref.digest)

    def is_current(self, ref, plan, options):
        """The digest at the tag when it already is what a commit would leave there, else None: the
        source's top when the whole image is copied (or pinned), or, with overwrite, the index of the
        copied platforms. A merge (no overwrite) of part of an image is decided by commit()."""
        if (options.overwrite or plan.pinned) and not plan.whole:
            wanted = _built_index(plan.selected).digest
        else:
            wanted = plan.top.digest
        head = self.client.head_manifest(ref.repository, ref.tag or ref.reference)
        if not head:
            self._learn_if_new(ref.repository)
        if not head or head.get("digest") != wanted:
            return None
        if options.platform_tags and ref.tag:
            for descriptor in plan.selected:
                tag = platform_tag(ref.tag, descriptor)
                if tag:
                    current = self.client.head_manifest(ref.repository, tag)
                    if not current or current.get("digest") != descriptor["digest"]:
                        return None
        return wanted

    def _learn_if_new(self, repository):
        with self._lock:
            if repository in self._new_repositories:
                return
        new = not self.client.repository_exists(repository)
        with self._lock:
            self._new_repositories.setdefault(repository, new)

    def _is_new(self, repository):
        with self._lock:
            return self._new_repositories.get(repository, False)

    def has_manifest(self, ref, digest):
        with self._lock:
            if (ref.repository, digest) in self._pushed_manifests:
                return True
        if self._is_new(ref.repository):
            return False
        return self.client.head_manifest(ref.repository, digest) is not None

    def has_blob(self, ref, digest):
        with self._lock:
            if self._known_blobs.get((ref.repository, digest)):
                return True
        if self._is_new(ref.repository):
            return False
        present = self.client.blob_exists(ref.repository, digest)
        if present:
            self._remember(ref.repository, digest)
        return present

    def mount_blob(self, ref, digest, source, source_ref):
        """Mount from a repository of this registry known to hold the blob: the source's own
        repository when source and destination are one registry, or one this run pushed to."""
        candidates = []
        if isinstance(source, RegistryStore) and source.registry == self.registry \
                and source_ref.repository != ref.repository:
            candidates.append(source_ref.repository)
        with self._lock:
            known = self._known_blobs.get(digest)
        if known and known != ref.repository and known not in candidates:
            candidates.append(known)
        for repository in candidates:
            if self.client.mount_blob(ref.repository, digest, repository):
                self._remember(ref.repository, digest)
                return True
        return False

    def put_blob(self, ref, descriptor, reader):
        self.client.push_blob(ref.repository, descriptor["digest"], descriptor.get("size"), reader)
        self._remember(ref.repository, descriptor["digest"])

    def put_manifest(self, ref, manifest):
        self.client.put_manifest(ref.repository, manifest.digest, manifest.data, manifest.media_type)
        with self._lock:
            self._pushed_manifests.add((ref.repository, manifest.digest))

    def forget_blobs(self, ref, digests):
        """Drop what this run believes about these blobs in ref's repository, so that has_blob looks
        again (a HEAD) and mount_blob does not offer that repository: the registry refused a manifest
        naming them (see CopyEngine._until_references_known). Manifests pushed are forgotten alike,
        and the repository is no longer taken for new."""
        with self._lock:
            self._new_repositories[ref.repository] = False
            for digest in digests:
                self._pushed_manifests.discard((ref.repository, digest))
                self._known_blobs.pop((ref.repository, digest), None)
                if self._known_blobs.get(digest) == ref.repository:
                    del self._known_blobs[digest]

    def _remember(self, repository, digest):
        with self._lock:
            self._known_blobs[(repository, digest)] = True
            self._known_blobs.setdefault(digest, repository)

    def commit(self, ref, plan, options):
        """Make the tag (or, for a digest-pinned reference, the digest) point at the copied image."""
        if not ref.tag:
            return self._commit_digest(ref, plan, options)
        replace = options.overwrite or plan.pinned
        existing = self._existing(ref)
        before = self._state(ref, existing)
        if replace:
            wanted = plan.top if plan.whole else _built_index(plan.selected)
        else:
            wanted = self._wanted_top(ref, plan, existing)
        changed = existing is None or existing.digest != wanted.digest
        concurrent, confirm = 0, None
        if changed and not options.check_mode:
            if replace:
                self.client.put_manifest(ref.repository, ref.tag, wanted.data, wanted.media_type)
            else:
                wanted, concurrent, confirm = self._push_merged(ref, plan, wanted, options)
        if options.platform_tags:
            changed = self._push_platform_tags(ref, plan, options) or changed
        outcome = CommitOutcome(changed, wanted.digest, before, self._state(ref, wanted, plan), concurrent)
        if confirm is not None:
            wanted, attempt, due = confirm
            outcome.confirm = PendingConfirmation(
                due, lambda: self._confirmed(ref, plan, options, outcome, wanted, attempt, due))
        return outcome

    def _confirmed(self, ref, plan, options, outcome, wanted, attempt, due):
        """The second look at a merge pushed (see the module docstring): None when the tag kept it, else
        the outcome of merging again with what another run pushed meanwhile."""
        time.sleep(max(0.0, due - time.monotonic()))
        current = self._existing(ref)
        if current is not None and current.digest == wanted.digest:
            return None
        kept = self._keeps_ours(ref, plan, current)
        with self._lock:
            own = current is not None and self._tag_pushes.get((ref.repository, ref.tag)) == current.digest
        if kept and own:
            return None  # a later merge of this run into the same tag, which kept ours
        concurrent = outcome.concurrent_changes + 1
        if kept:
            wanted = current  # another run merged ours into its push: nothing to redo
        elif attempt < options.merge_attempts:
            wanted, more, _later = self._push_merged(ref, plan, self._wanted_top(ref, plan, current), options,
                                                     first_attempt=attempt + 1, settle_now=True)
            concurrent += more
        else:
            raise self._merge_refused(ref, concurrent)
        return CommitOutcome(True, wanted.digest, outcome.before, self._state(ref, wanted, plan), concurrent)

    def _commit_digest(self, ref, plan, options):
        wanted = plan.top if plan.whole else _built_index(plan.selected)
        present = self.client.head_manifest(ref.repository, wanted.digest) is not None
        if not present and not options.check_mode:
            self.client.put_manifest(ref.repository, wanted.digest, wanted.data, wanted.media_type)
        after = DestinationState.of(wanted.digest, plan.selected)
        return CommitOutcome(not present, wanted.digest, after if present else DestinationState(), after)

    def _push_merged(self, ref, plan, wanted, options, first_attempt=1, settle_now=False):
        """Push a merged index and make sure the tag keeps our platforms (see the module docstring).
        Returns (the manifest the tag holds, how many concurrent changes were merged, and unless
        settle_now the (wanted, attempt, due time) of the second look still to take, else None)."""
        concurrent = 0
        for attempt in range(first_attempt, max(1, options.merge_attempts) + 1):
            started = time.monotonic()
            self.client.put_manifest(ref.repository, ref.tag, wanted.data, wanted.media_type)
            with self._lock:
                self._tag_pushes[(ref.repository, ref.tag)] = wanted.digest
            current = self._existing(ref)
            if current is not None and current.digest == wanted.digest:
                pause = min(SETTLE_MAX_SECONDS, max(SETTLE_MIN_SECONDS, 2 * (time.monotonic() - started)))
                if not settle_now:
                    return wanted, concurrent, (wanted, attempt, time.monotonic() + pause)
                time.sleep(pause)
                current = self._existing(ref)
            if current is not None and current.digest == wanted.digest:
                return wanted, concurrent, None
            concurrent += 1
            if self._keeps_ours(ref, plan, current):
                return current, concurrent, None  # another run merged ours into its push: nothing to redo
            if attempt < options.merge_attempts:
                wanted = self._wanted_top(ref, plan, current)
        raise self._merge_refused(ref, concurrent)

    def _keeps_ours(self, ref, plan, current):
        """Whether the manifest the tag holds now names every platform manifest we copied."""
        if current is None:
            return False
        return {d["digest"] for d in plan.selected} <= {d["digest"] for d in self._as_descriptors(ref, current)}

    def _merge_refused(self, ref, concurrent):
        return RegistryError("Error merging into %s/%s:%s: another run changed the tag each time, %d times; "
                             "run again when the other runs are done"
                             % (self.registry, ref.repository, ref.tag, concurrent), registry=self.registry)

    def _state(self, ref, manifest, plan=None):
        """The DestinationState of `manifest` at ref: the plan's platforms when it is the plan's top."""
        if manifest is None:
            return DestinationState()
        if plan is not None and manifest is plan.top:
            return DestinationState.of(manifest.digest, plan.selected)
        return DestinationState.of(manifest.digest, self._as_descriptors(ref, manifest))

    def current_descriptors(self, ref):
        """The platform descriptors the tag (or digest) stands for now; None when it does not exist."""
        try:
            manifest = self.client.get_manifest(ref.repository, ref.reference)
        except NotFoundError:
            return None
        return self._as_descriptors(ref, manifest)

    def _existing(self, ref):
        if not ref.tag:
            return None
        try:
            return self.client.get_manifest(ref.repository, ref.tag)
        except NotFoundError:
            return None

    def _wanted_top(self, ref, plan, existing):
        if existing is None or existing.digest == plan.top.digest:
            if plan.whole:
                return plan.top
            if existing is None:
                return _built_index(plan.selected)
        current = self._as_descriptors(ref, existing)
        merged = merge_descriptors(current, plan.selected)
        if plan.whole and {d["digest"] for d in merged} == {d["digest"] for d in plan.selected}:
            return plan.top
        if existing.is_index and same_descriptors(merged, current):
            return existing
        return _built_index(merged)

    def _as_descriptors(self, ref, manifest):
        if manifest.is_index:
            return manifest.children
        platform = None if manifest.is_schema1 else self._config_platform(ref, manifest, keep=False)
        return [manifest.descriptor(platform=platform)]

    def _push_platform_tags(self, ref, plan, options):
        changed = False
        for descriptor in plan.selected:
            tag = platform_tag(ref.tag, descriptor)
            if not tag:
                continue
            current = self.client.head_manifest(ref.repository, tag)
            if current and current.get("digest") == descriptor["digest"]:
                continue
            changed = True
            if not options.check_mode:
                manifest = self.client.get_manifest(ref.repository, descriptor["digest"])
                self.client.put_manifest(ref.repository, tag, manifest.data, manifest.media_type)
        return changed


def _built_index(descriptors):
    return Manifest.from_bytes(build_index(descriptors), OCI_INDEX)


def _incomplete(platform):
    if platform.get("os") == "windows" and not platform.get("os.version"):
        return True
    return platform.get("architecture", "").startswith("arm") and platform.get("architecture") != "arm64" \
        and not platform.get("variant")


class RegistryStorePool:
    """One RegistryStore (and so one client, one connection pool and one token cache) per registry."""

    def __init__(self, make_client):
        self._make_client = make_client
        self._stores = {}
        self._lock = threading.Lock()

    def store(self, registry):
        with self._lock:
            store = self._stores.get(registry)
            if store is None:
                store = self._stores[registry] = RegistryStore(self._make_client(registry))
            return store

    def retries(self):
        return sum(store.client.stats.retries for store in self._stores.values())

    def expect(self, refs, push):
        """The images (references) this run will read, or with push write, at these registries."""
        by_registry = {}
        for ref in refs:
            by_registry.setdefault(ref.registry, []).append(ref.repository)
        for registry, repositories in by_registry.items():
            self.store(registry).client.expect_repositories(repositories, push=push)

    def close(self):
        for store in self._stores.values():
            store.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
