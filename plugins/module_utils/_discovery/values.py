# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Images in Helm values trees, by the conventions charts follow (private module_utils, no Ansible imports).

- `image: "repo:tag"` (or `repo@sha256:...`), with a sibling `tag`/`imageTag` when the string has no tag;
- `image: {registry, repository, tag, digest}` (`image` or `name` for the repository, as ingress-nginx and
  others write it), under any key named `image` or ending in `Image`, and any mapping holding `repository`
  and `tag` or `digest` wherever it is;
- `global.imageRegistry`, else `global.image.registry`, replacing the registry of every mapping image, and a
  digest replacing the tag, as Bitnami's common library renders them;
- a mapping without a tag takes the chart's `appVersion` (the `helm create` convention
  `.Values.image.tag | default .Chart.AppVersion`); without either it is unresolved, never guessed.

Values are merged as helm merges them: mappings key by key, anything else replaced, null deleting the key.
"""

from __future__ import annotations

from dataclasses import dataclass

from .documents import NodeBudget
from .findings import Location, format_path, is_template

REPOSITORY_KEYS = ("repository", "image", "name")


def merge_values(base, override):
    """A new tree: `override` over `base` (helm's coalescing of -f files)."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = value
    return merged


def get_path(tree, parts):
    """The node at `parts` of a tree, or raise KeyError."""
    node = tree
    for part in parts:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise KeyError(part)
        elif not isinstance(node, dict) or part not in node:
            raise KeyError(part)
        node = node[part]
    return node


@dataclass(frozen=True)
class ValuesLayer:
    """One source of a chart's values: a file, and where this chart's values start in it (`[]` for the
    chart's own values.yaml, `["redis"]` for a parent's values of its subchart redis)."""

    file: str
    prefix: tuple
    tree: dict

    def subtree(self):
        try:
            node = get_path(self.tree, list(self.prefix))
        except KeyError:
            return None
        return node if isinstance(node, dict) else None


class ChartValues:
    """The merged values of one chart, with the layers they came from (for `file` and `path` in results)."""

    def __init__(self, layers, global_values=None):
        self.layers = list(layers)
        merged = {}
        for layer in self.layers:
            subtree = layer.subtree()
            if subtree is not None:
                merged = merge_values(merged, subtree)
        if global_values is not None:
            merged["global"] = merge_values(merged.get("global") or {}, global_values)
        self.tree = merged

    def origin(self, parts):
        """(file, path) of the last layer that sets anything at `parts`."""
        for layer in reversed(self.layers):
            try:
                get_path(layer.tree, list(layer.prefix) + list(parts))
            except KeyError:
                continue
            return layer.file, format_path(list(layer.prefix) + list(parts))
        fallback = self.layers[0] if self.layers else ValuesLayer("values.yaml", (), {})
        return fallback.file, format_path(list(fallback.prefix) + list(parts))

    def global_registry(self):
        """(registry, where) of the global override, or (None, None)."""
        top = self.tree.get("global")
        if not isinstance(top, dict):
            return None, None
        registry = top.get("imageRegistry")
        if isinstance(registry, str) and registry.strip():
            return registry.strip(), "global.imageRegistry"
        image = top.get("image")
        if isinstance(image, dict) and isinstance(image.get("registry"), str) and image["registry"].strip():
            return image["registry"].strip(), "global.image.registry"
        return None, None


def _is_image_key(key):
    return isinstance(key, str) and (key == "image" or key.endswith("Image"))


def _scalar_text(value):
    """Tags written as YAML numbers (`tag: 8`) are strings to helm's templates; booleans and nulls are not tags."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return None


def _repository_of(node):
    for key in REPOSITORY_KEYS:
        value = node.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _looks_like_image_mapping(key, node):
    repository = node.get("repository")
    if isinstance(repository, str) and "://" not in repository and ("tag" in node or "digest" in node):
        return True
    return _is_image_key(key) and _repository_of(node) is not None and not any(
        isinstance(node.get(k), dict) for k in REPOSITORY_KEYS)


class ValuesScanner:
    """Finds the images of one chart's merged values and records them in `findings`."""

    def __init__(self, chart_values, chart_object, app_version, findings):
        self.values = chart_values
        self.object = chart_object
        self.app_version = _scalar_text(app_version) or None
        self.findings = findings
        self.global_registry, self.global_where = chart_values.global_registry()
        self.budget = NodeBudget("the values of %s" % chart_object)

    def scan(self):
        self._walk(self.values.tree, [])

    def _location(self, parts, note=""):
        file, path = self.values.origin(parts)
        return Location(file, self.object, path, note)

    def _walk(self, node, parts):
        self.budget.spend()
        if isinstance(node, list):
            for index, item in enumerate(node):
                self._walk(item, parts + [index])
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            here = parts + [key]
            if isinstance(value, dict) and _looks_like_image_mapping(key, value):
                self._mapping_image(value, here)
            elif _is_image_key(key) and isinstance(value, str):
                self._string_image(value, node, key, here)
            else:
                self._walk(value, here)

    def _string_image(self, text, parent, key, parts):
        text = text.strip()
        if not text:
            return  # an optional override left empty
        if is_template(text):
            self.findings.image(text, self._location(parts))
            return
        if _has_tag_or_digest(text):
            self.findings.image(text, self._location(parts))
            return
        for tag_key in (key + "Tag", "tag", "imageTag"):
            tag = _scalar_text(parent.get(tag_key))
            if tag:
                self.findings.image("%s:%s" % (text, tag), self._location(parts, "tag from %s" % tag_key))
                return
        self.findings.unknown(text, "an image without a tag in the values; set its tag", self._location(parts))

    def _mapping_image(self, node, parts):
        repository = _repository_of(node)
        if repository is None:
            self.findings.unknown(node, "an image mapping without a repository", self._location(parts))
            return
        notes = []
        registry = _scalar_text(node.get("registry"))
        if self.global_registry:
            registry = self.global_registry
            notes.append("registry from %s" % self.global_where)
        text = "%s/%s" % (registry.rstrip("/"), repository) if registry else repository
        tag = _scalar_text(node.get("tag"))
        digest = _scalar_text(node.get("digest"))
        if any(is_template(part) for part in (registry, repository, tag, digest) if part):
            self.findings.image("%s:%s" % (text, tag or ""), self._location(parts, "; ".join(notes)))
            return
        if not tag and not digest and not _has_tag_or_digest(repository):
            if not self.app_version:
                self.findings.unknown(text, "an image without a tag or digest in the values, and the chart has no "
                                            "appVersion; set its tag", self._location(parts))
                return
            tag = self.app_version
            notes.append("tag from the chart's appVersion")
        if digest:  # the digest replaces the tag, as Bitnami's common.images.image renders it
            text += "@" + digest
            if tag:
                notes.append("pinned by digest, tag %s not listed" % tag)
        elif tag:
            text += ":" + tag
        self.findings.image(text, self._location(parts, "; ".join(notes)))


def _has_tag_or_digest(text):
    return "@" in text or text.rfind(":") > text.rfind("/")
