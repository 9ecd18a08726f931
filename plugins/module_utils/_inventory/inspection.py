# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a registry holds for a reference: manifests, platforms, configs, attestations, artifact tags,
the tag list (private module_utils, no Ansible imports). Reads only.

One `inspect_image` call reads the top manifest, each platform manifest and its config, each
attestation manifest, and the repository's tag list (for the cosign tag-schema artifacts, and
returned with list_tags). A reference the registry does not have is `exists: false`, not an error.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .._errors import HangarError, InputError, NotFoundError, RegistryError
from .._image.image_list import collect_entries
from .._image.manifest import is_foreign_layer
from .._image.media_types import DOCKER_CONFIG, OCI_CONFIG
from .._image.platform import Platform, attestation_subject, is_attestation
from .._image.reference import ImageReference, normalize_registry
from .._registry.client import acceptable_digests
from .artifacts import artifacts_by_head, artifacts_in_tags

IMAGE_CONFIG_TYPES = (DOCKER_CONFIG, OCI_CONFIG)
PREDICATE_TYPE_ANNOTATION = "in-toto.io/predicate-type"


@dataclass(frozen=True)
class InspectTarget:
    """One reference to inspect. `whole_repository` when only a repository was named with
    list_tags (no tag to resolve)."""

    ref: ImageReference
    line: str
    whole_repository: bool = False


def _names_tag_or_digest(text):
    """True when a reference string carries its own tag or digest (else the default `latest` applies)."""
    text = text.strip()
    return "@" in text or ":" in text.rsplit("/", 1)[-1]


def plan_inspection(images=None, file=None, registry=None, project=None, list_tags=False):
    """InspectTargets from `images` and `file`; `registry` and `project` replace those of every
    reference, as in the other modules. With list_tags a reference without tag or digest names
    the repository alone."""
    registry = normalize_registry(registry) if registry else None
    targets = []
    for entry in collect_entries(images, file):
        ref = entry.source
        if registry:
            ref = ref.with_registry(registry)
        if project:
            ref = ref.with_project(project)
        whole = bool(list_tags) and not _names_tag_or_digest(entry.line)
        if whole:
            ref = ImageReference(ref.registry, ref.repository)
        targets.append(InspectTarget(ref, entry.line, whole))
    if not targets:
        raise InputError("Error inspecting images: no references given; set images or file")
    return targets


class TagLists:
    """The tag list of each repository, read once per run. A repository the registry does not know
    has no tags; a refusal to list is kept, raised where the tags are required (list_tags) and
    otherwise answered with None (artifacts are then looked for with HEAD requests)."""

    def __init__(self):
        self._answers = {}
        self._lock = threading.Lock()

    def get(self, client, repository, required=False):
        key = (client.registry, repository)
        with self._lock:
            answer = self._answers.get(key)
        if answer is None:
            try:
                answer = (sorted(client.list_tags(repository)), None)
            except NotFoundError:
                answer = ([], None)
            except RegistryError as exc:
                answer = (None, exc)
            with self._lock:
                self._answers[key] = answer
        tags, error = answer
        if error is not None and required:
            raise error
        return tags


def registry_digest(manifest):
    """The digest the registry names a manifest by: that of its bytes, but for a signed schema 1
    manifest (which the registry re-signs on every GET) that of its payload."""
    if manifest.is_schema1:
        payload_digests = acceptable_digests(manifest) - {manifest.digest}
        if payload_digests:
            return payload_digests.pop()
    return manifest.digest


def _platform_fields(platform):
    return {"platform": str(platform), "architecture": platform.architecture, "os": platform.os,
            "variant": platform.variant or None, "os_version": platform.os_version or None}


def _config_details(client, repository, manifest):
    """(config document or None, created, labels) of an image manifest."""
    config = manifest.config
    if config.get("mediaType") not in IMAGE_CONFIG_TYPES or not config.get("digest"):
        return None, None, None
    try:
        document = json.loads(client.get_blob(repository, config["digest"]))
    except NotFoundError:
        return None, None, None
    except ValueError:
        raise HangarError("Error reading config %s of %s/%s: not JSON" % (config["digest"], client.registry,
                                                                          repository)) from None
    if not isinstance(document, dict):
        return None, None, None
    labels = (document.get("config") or {}).get("Labels") or {}
    return document, document.get("created"), dict(labels)


def _manifest_sizes(manifest):
    layers = manifest.layers
    layer_bytes = sum(int(layer.get("size") or 0) for layer in layers)
    return {
        "layer_count": len(layers),
        "layer_bytes": layer_bytes,
        "foreign_layers": sum(1 for layer in layers if is_foreign_layer(layer)),
        "size": layer_bytes + int(manifest.config.get("size") or 0),
    }


def _schema1_details(manifest):
    doc = manifest.doc
    history = doc.get("history") or []
    try:
        newest = json.loads(history[0]["v1Compatibility"]) if history else {}
    except (ValueError, KeyError, TypeError):
        newest = {}
    platform = Platform(os=newest.get("os") or "linux", architecture=doc.get("architecture") or "")
    details = _platform_fields(platform)
    details.update(digest=registry_digest(manifest), media_type=manifest.media_type, manifest_size=manifest.size,
                   present=True, layer_count=len(doc.get("fsLayers") or []), layer_bytes=None, foreign_layers=0,
                   size=None, created=newest.get("created"),
                   labels=dict((newest.get("config") or {}).get("Labels") or {}))
    return details


def _image_details(client, repository, manifest, index_platform=None):
    """A platform entry for an image manifest; the platform of the index entry completed from the config."""
    config, created, labels = _config_details(client, repository, manifest)
    platform = Platform.from_dict(index_platform) if index_platform else Platform()
    if config is not None:
        platform = platform.completed_from(Platform.from_config(config))
    details = _platform_fields(platform)
    details.update(digest=manifest.digest, media_type=manifest.media_type, manifest_size=manifest.size, present=True)
    details.update(_manifest_sizes(manifest))
    details.update(created=created, labels=labels)
    return details


def _child_details(client, repository, descriptor):
    try:
        manifest = client.get_manifest(repository, descriptor["digest"])
    except NotFoundError:
        details = _platform_fields(Platform.from_dict(descriptor.get("platform")))
        details.update(digest=descriptor.get("digest"), media_type=descriptor.get("mediaType"),
                       manifest_size=descriptor.get("size"), present=False, layer_count=None, layer_bytes=None,
                       foreign_layers=None, size=None, created=None, labels=None)
        return details
    if manifest.is_index or manifest.is_schema1:
        details = _platform_fields(Platform.from_dict(descriptor.get("platform")))
        details.update(digest=registry_digest(manifest), media_type=manifest.media_type, manifest_size=manifest.size,
                       present=True, layer_count=None, layer_bytes=None, foreign_layers=None, size=None,
                       created=None, labels=None)
        return details
    return _image_details(client, repository, manifest, descriptor.get("platform"))


def _attestation_details(client, repository, descriptor, platforms_by_digest):
    subject = attestation_subject(descriptor)
    details = {"digest": descriptor.get("digest"), "media_type": descriptor.get("mediaType"),
               "size": descriptor.get("size"), "subject": subject,
               "platform": platforms_by_digest.get(subject), "present": True, "predicate_types": []}
    try:
        manifest = client.get_manifest(repository, descriptor["digest"])
    except NotFoundError:
        details["present"] = False
        return details
    details["predicate_types"] = sorted({(layer.get("annotations") or {}).get(PREDICATE_TYPE_ANNOTATION)
                                         for layer in manifest.layers} - {None})
    return details


def describe_manifest(client, repository, top, raw=False):
    """The inspection of a top manifest `top` (a Manifest) of `repository`: digest, media type,
    platforms, attestations, and its bytes as text with raw."""
    info = {"exists": True, "digest": registry_digest(top), "media_type": top.media_type, "size": top.size,
            "artifact_type": None, "platforms": [], "attestations": []}
    if top.is_index:
        children = top.children
        platform_children = [c for c in children if not is_attestation(c)]
        info["platforms"] = [_child_details(client, repository, c) for c in platform_children]
        by_digest = {p["digest"]: p["platform"] for p in info["platforms"]}
        info["attestations"] = [_attestation_details(client, repository, c, by_digest)
                                for c in children if is_attestation(c)]
    elif top.is_schema1:
        info["platforms"] = [_schema1_details(top)]
    elif top.config.get("mediaType") in IMAGE_CONFIG_TYPES:
        info["platforms"] = [_image_details(client, repository, top)]
    else:
        # An OCI artifact (Helm chart, signature, SBOM): no platform to speak of.
        info["artifact_type"] = top.doc.get("artifactType") or top.config.get("mediaType")
    if raw:
        info["raw"] = top.data.decode("utf-8", "replace")
    return info


class ImageInfo(dict):
    """The inspection of one reference (a dict, as the module returns it)."""

    @property
    def failed(self):
        return bool(self.get("error"))

    def as_dict(self):
        return dict(self)


def inspect_images(targets, client_for, jobs=4, raw=False, list_tags=False):
    """ImageInfo for every InspectTarget, `jobs` at a time, in order. `client_for(registry)` gives the
    RegistryClient of a registry. A reference that cannot be read gets `error` instead of failing the rest."""
    tag_lists = TagLists()

    def inspect(target):
        try:
            return inspect_image(client_for(target.ref.registry), target, tag_lists, raw=raw, list_tags=list_tags)
        except HangarError as exc:
            error = str(exc)
        except Exception as exc:  # anything unexpected is this reference's result, never a traceback
            error = "Error inspecting %s: unexpected %s: %s" % (target.ref, type(exc).__name__, exc)
        return ImageInfo(name=target.line, reference=str(target.ref), registry=target.ref.registry,
                         repository=target.ref.repository, tag=target.ref.tag, exists=None, error=error)

    if jobs <= 1 or len(targets) <= 1:
        return [inspect(target) for target in targets]
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="hangar-inspect") as pool:
        return list(pool.map(inspect, targets))


def inspect_image(client, target, tag_lists, raw=False, list_tags=False):
    """The ImageInfo of one InspectTarget, read through `client` (a RegistryClient of its registry)."""
    ref = target.ref
    result = ImageInfo(name=target.line, reference=str(ref), registry=ref.registry, repository=ref.repository,
                       tag=ref.tag, exists=False)
    if target.whole_repository:
        tags = tag_lists.get(client, ref.repository, required=True)
        result.update(tags=tags, exists=bool(tags))
        return result
    try:
        top = client.get_manifest(ref.repository, ref.reference)
    except NotFoundError:
        top = None
    if top is not None:
        result.update(describe_manifest(client, ref.repository, top, raw=raw))
        subjects = [result["digest"]] + [p["digest"] for p in result["platforms"] if p.get("digest")]
        tags = tag_lists.get(client, ref.repository)
        if tags is None:
            result["artifacts"] = artifacts_by_head(client, ref.repository, subjects)
        else:
            result["artifacts"] = artifacts_in_tags(tags, subjects)
            for artifact in result["artifacts"]:
                head = client.head_manifest(ref.repository, artifact["tag"])
                artifact["digest"] = head["digest"] if head else None
        result["signed"] = any(a["kind"] == "signature" and a["subject"] == result["digest"]
                               for a in result["artifacts"])
    if list_tags:
        result["tags"] = tag_lists.get(client, ref.repository, required=True)
    return result


def top_manifest(client, ref):
    """The Manifest `ref` names, or None when the registry does not have it."""
    try:
        return client.get_manifest(ref.repository, ref.reference)
    except NotFoundError:
        return None
