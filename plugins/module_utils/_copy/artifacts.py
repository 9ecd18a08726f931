# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carrying an image's supply-chain artifacts with it (private module_utils, no Ansible imports).

For every manifest digest copied (the top-level one and each platform manifest), the step the
engine runs after the image (`after_copy`) copies, byte for byte and after the image:

* cosign attachments under the tags `sha256-<hex>.sig`, `.att` and `.sbom` of the same repository;
* OCI 1.1 referrers (manifests whose `subject` is that digest), found through the referrers API
  where the registry has it, else through the referrers tag schema (an index tagged `sha256-<hex>`).

At a registry destination, attachments go back under their tags and referrers by digest; where the
destination has no referrers API, the `sha256-<hex>` index is written (or merged into) too. A `.sig`
or `.att` tag that already holds other layers at the destination gets the missing layers appended,
as containers/image does when it copies signatures. In an archive, every artifact manifest and blob
is a blob in `share/sha256/` and the entry of the image lists them (`artifacts`); they have no
`<hex>/` folder, so the Hangar CLI, which reads only the folders of `images`, passes them by.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass, replace

from .._archive.index import ArchiveArtifact
from .._errors import AuthenticationError, NotFoundError
from .._image.artifact_tags import ARTIFACT_TAG_RE, ATTACHMENT_SUFFIXES, attachment_tag, referrers_tag
from .._image.digest import digest_hex
from .._image.manifest import Manifest, blob_descriptors
from .._image.media_types import OCI_INDEX
from .archive_store import ArchiveDestination, ArchiveSource, find_entry
from .model import COPIED, UNCHANGED

MERGED_SUFFIXES = (".sig", ".att")


@dataclass
class Artifact:
    subject: str
    manifest: Manifest
    tag: str = ""  # the cosign tag; "" for a referrer
    descriptor: dict = None  # a referrer's descriptor (mediaType, digest, size, artifactType, annotations)

    @property
    def digest(self):
        return self.manifest.digest


def referrer_descriptor(listed, manifest):
    """The descriptor of a referrer, as the referrers API lists it: artifactType and annotations kept."""
    descriptor = {"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.size}
    artifact_type = listed.get("artifactType") or manifest.doc.get("artifactType") or \
        (manifest.config.get("mediaType") if isinstance(manifest.config, dict) else None)
    if artifact_type:
        descriptor["artifactType"] = artifact_type
    annotations = listed.get("annotations") or manifest.annotations
    if annotations:
        descriptor["annotations"] = dict(annotations)
    return descriptor


def subjects_of(result):
    """The manifest digests an image result copied: the top-level one, then each platform manifest."""
    digests = [result.digest] if result.digest else []
    for platform in result.platforms:
        if platform.get("digest") and platform["digest"] not in digests:
            digests.append(platform["digest"])
    return digests


def build_referrers_index(descriptors):
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors},
                      separators=(",", ":")).encode("utf-8")


class ArtifactCarrier:
    """The after-copy step carrying artifacts; one per run, shared by every image."""

    def __init__(self, check_mode=False):
        self.check_mode = check_mode
        self._referrers_api = {}  # registry -> True/False once probed
        self._lock = threading.Lock()

    def __call__(self, source, source_ref, destination, dest_ref, result):
        subjects = subjects_of(result)
        if not subjects:
            return
        artifacts, tag_indexes = self._discover(source, source_ref, subjects)
        if not artifacts:
            return
        if isinstance(destination, ArchiveDestination):
            self._store_in_archive(destination, dest_ref, artifacts, source, source_ref, result)
        elif getattr(destination, "client", None) is not None:
            self._push_to_registry(destination.client, dest_ref.repository, artifacts, tag_indexes, source,
                                   source_ref, result)

    # ---- discovery

    def _discover(self, source, source_ref, subjects):
        """([Artifact], {subject: the source's referrers tag index, when it had one})."""
        if isinstance(source, ArchiveSource):
            return self._archive_artifacts(source, source_ref, subjects), {}
        client = getattr(source, "client", None)
        if client is None:
            return [], {}
        repo = source_ref.repository
        tags = self._subject_tags(client, repo, subjects)
        artifacts, tag_indexes = [], {}
        for subject in subjects:
            for suffix in ATTACHMENT_SUFFIXES:
                tag = attachment_tag(subject, suffix)
                if tag in tags.get(subject, ()):
                    try:
                        artifacts.append(Artifact(subject, client.get_manifest(repo, tag), tag=tag))
                    except NotFoundError:
                        continue  # deleted meanwhile
            listed = self._referrers(client, repo, subject) if self._has_api(client, repo, subject) else None
            if listed is None and referrers_tag(subject) in tags.get(subject, ()):
                try:
                    index = client.get_manifest(repo, referrers_tag(subject))
                except NotFoundError:
                    index = None
                if index is not None and index.is_index:
                    tag_indexes[subject] = index
                    listed = index.children
            for descriptor in listed or ():
                try:
                    manifest = client.get_manifest(repo, descriptor["digest"])
                except NotFoundError:
                    continue  # a stale entry of the tag schema
                artifacts.append(Artifact(subject, manifest, descriptor=referrer_descriptor(descriptor, manifest)))
        return artifacts, tag_indexes

    @staticmethod
    def _subject_tags(client, repo, subjects):
        """{subject: its sha256-<hex>[.sig|.att|.sbom] tags}: from one tag listing, or, where the
        registry refuses to list tags, by asking for each tag."""
        wanted = {digest_hex(s): s for s in subjects}
        try:
            listed = client.list_tags(repo)
        except AuthenticationError:
            listed = [tag for subject in subjects
                      for tag in [attachment_tag(subject, suffix) for suffix in ATTACHMENT_SUFFIXES]
                      + [referrers_tag(subject)] if client.head_manifest(repo, tag) is not None]
        tags = {}
        for tag in listed:
            match = ARTIFACT_TAG_RE.match(tag or "")
            if match and match.group(1) in wanted:
                tags.setdefault(wanted[match.group(1)], []).append(tag)
        return tags

    def _has_api(self, client, repo, subject):
        with self._lock:
            known = self._referrers_api.get(client.registry)
        if known is None:
            try:
                known = client.list_referrers(repo, subject) is not None
            except AuthenticationError:
                known = False  # a registry that guards the endpoint as unknown: use the tag schema
            with self._lock:
                self._referrers_api[client.registry] = known
        return known

    @staticmethod
    def _referrers(client, repo, subject):
        return client.list_referrers(repo, subject)

    @staticmethod
    def _archive_artifacts(source, source_ref, subjects):
        entry = find_entry(source.reader.index, source_ref)
        if entry is None:
            return []
        found = []
        for record in entry.artifacts:
            if record.subject not in subjects:
                continue
            manifest = Manifest.from_bytes(source.reader.read_blob(record.digest), record.media_type)
            descriptor = None
            if not record.tag:
                descriptor = {"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.size}
                if record.artifact_type:
                    descriptor["artifactType"] = record.artifact_type
                if record.annotations:
                    descriptor["annotations"] = dict(record.annotations)
            found.append(Artifact(record.subject, manifest, tag=record.tag, descriptor=descriptor))
        return found

    # ---- a registry destination

    def _copy_blobs(self, client, repo, manifest, source, source_ref):
        for descriptor in blob_descriptors(manifest):
            digest = descriptor["digest"]
            if client.blob_exists(repo, digest):
                continue
            if self.check_mode:
                continue
            with source.open_blob(source_ref, digest, descriptor.get("size")) as stream:
                client.push_blob(repo, digest, descriptor.get("size"), stream)

    def _push_to_registry(self, client, repo, artifacts, tag_indexes, source, source_ref, result):
        referrers = {}
        for artifact in artifacts:
            record = {"subject": artifact.subject, "digest": artifact.digest,
                      "tag": artifact.tag or None, "status": UNCHANGED}
            result.artifacts.append(record)
            if artifact.tag:
                data = self._tag_content(client, repo, artifact)
                if data is None:
                    continue
                self._copy_blobs(client, repo, artifact.manifest, source, source_ref)
                if not self.check_mode:
                    client.put_manifest(repo, artifact.tag, data, artifact.manifest.media_type)
                record["status"] = COPIED
                continue
            referrers.setdefault(artifact.subject, []).append(artifact.descriptor)
            if client.head_manifest(repo, artifact.digest) is None:
                self._copy_blobs(client, repo, artifact.manifest, source, source_ref)
                if not self.check_mode:
                    client.put_manifest(repo, artifact.digest, artifact.manifest.data, artifact.manifest.media_type)
                record["status"] = COPIED
        for subject, descriptors in referrers.items():
            if self._has_api(client, repo, subject):
                continue  # the registry indexes a manifest with a subject by itself
            self._update_referrers_tag(client, repo, subject, descriptors, tag_indexes.get(subject), result)

    def _tag_content(self, client, repo, artifact):
        """The bytes to put under the artifact's tag at the destination; None when nothing is to do."""
        current = client.head_manifest(repo, artifact.tag)
        if current is None:
            return artifact.manifest.data
        if current.get("digest") == artifact.digest:
            return None
        if not artifact.tag.endswith(MERGED_SUFFIXES):
            return artifact.manifest.data
        try:
            existing = client.get_manifest(repo, artifact.tag)
            doc = dict(existing.doc)
        except (NotFoundError, ValueError):
            return artifact.manifest.data
        layers = list(doc.get("layers") or [])
        missing = [layer for layer in artifact.manifest.layers if layer not in layers]
        if not missing:
            return None
        doc["layers"] = layers + missing
        return json.dumps(doc, separators=(",", ":")).encode("utf-8")

    def _update_referrers_tag(self, client, repo, subject, descriptors, source_index, result):
        tag = referrers_tag(subject)
        try:
            existing = client.get_manifest(repo, tag)
        except NotFoundError:
            existing = None
        current = existing.children if existing is not None and existing.is_index else []
        present = {d.get("digest") for d in current}
        missing = [d for d in descriptors if d["digest"] not in present]
        if not missing:
            return
        if existing is None and source_index is not None and \
                {d["digest"] for d in source_index.children} == {d["digest"] for d in descriptors}:
            data = source_index.data  # the source's own index, byte for byte
        else:
            data = build_referrers_index(current + missing)
        if not self.check_mode:
            client.put_manifest(repo, tag, data, OCI_INDEX)
        result.artifacts.append({"subject": subject, "digest": Manifest.from_bytes(data, OCI_INDEX).digest,
                                 "tag": tag, "status": COPIED})

    # ---- an archive destination

    def _store_in_archive(self, destination, dest_ref, artifacts, source, source_ref, result):
        writer = destination.writer
        entry = find_entry(writer.index, dest_ref)
        records = list(entry.artifacts) if entry is not None else []
        changed = False
        for artifact in artifacts:
            blobs = tuple(d["digest"] for d in blob_descriptors(artifact.manifest))
            descriptor = artifact.descriptor or {}
            record = ArchiveArtifact(subject=artifact.subject, digest=artifact.digest,
                                     media_type=artifact.manifest.media_type, tag=artifact.tag,
                                     artifact_type=descriptor.get("artifactType") or "", blobs=blobs,
                                     annotations=tuple(sorted((descriptor.get("annotations") or {}).items())))
            status = UNCHANGED
            if record not in records or not all(writer.has_blob(d) for d in record.blob_digests):
                status = COPIED
                if not self.check_mode:
                    for blob in blob_descriptors(artifact.manifest):
                        if not writer.has_blob(blob["digest"]):
                            with source.open_blob(source_ref, blob["digest"], blob.get("size")) as stream:
                                writer.add_blob(blob["digest"], blob.get("size"), stream)
                    if not writer.has_blob(artifact.digest):
                        writer.add_blob(artifact.digest, artifact.manifest.size, io.BytesIO(artifact.manifest.data))
                records = [r for r in records if not (r.subject == record.subject and r.digest == record.digest)
                           and not (record.tag and r.tag == record.tag and r.subject == record.subject)]
                records.append(record)
                changed = True
            result.artifacts.append({"subject": artifact.subject, "digest": artifact.digest,
                                     "tag": artifact.tag or None, "status": status})
        if changed and entry is not None and not self.check_mode:
            writer.put_entry(replace(entry, artifacts=records))
