# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Images in Kubernetes manifests: rendered charts, kustomize output, plain YAML (private module_utils, no
Ansible imports).

Files may hold many documents; a `List` (or any `*List` kind with `items`) is read item by item. In every
document, each pod spec's `containers`, `initContainers` and `ephemeralContainers` are read: the `spec` of a
Pod, and the `spec` of every `template` holding one, wherever it is (Deployment, StatefulSet, DaemonSet,
ReplicaSet, Job, a CronJob's `jobTemplate`, PodTemplate, and custom resources that embed a pod template).
A file that is a Helm template left unrendered is not YAML: its literal `image:` lines are still read, and
its templated ones reported as unresolved.
"""

from __future__ import annotations

import os
import re

from .._errors import InputError
from .documents import NodeBudget, YAMLSyntaxError, load_all, read_file
from .findings import Location, format_path, is_template

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
CONTAINER_KEYS = ("initContainers", "containers", "ephemeralContainers")
_IMAGE_LINE_RE = re.compile(r"^\s*(?:-\s+)?image:\s*(?P<value>.+?)\s*$")


def manifest_files(paths):
    """The files to read: each path given, or the YAML/JSON files under a directory (recursively, sorted)."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = []
            for folder, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(os.path.join(folder, n) for n in names
                             if n.endswith(MANIFEST_SUFFIXES) and not n.startswith("."))
            files.extend(sorted(found))
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise InputError("Error reading manifests %s: no such file or directory" % path)
    return files


def object_name(document):
    kind = document.get("kind") if isinstance(document.get("kind"), str) else "?"
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    name = metadata.get("name") or metadata.get("generateName") or "?"
    return "%s/%s" % (kind, name)


def _top_objects(document):
    if isinstance(document, dict):
        yield document, ()
    elif isinstance(document, list):
        for index, item in enumerate(document):
            if isinstance(item, dict):
                yield item, (index,)


def documents_of(document, prefix=()):
    """(document, path prefix) of a document and, for a List, of its items (recursively)."""
    items = document.get("items")
    kind = document.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict):
                yield from documents_of(item, prefix + ("items", index))
        return
    yield document, prefix


def pod_specs(document, budget=None):
    """(path, spec) of every pod spec in a document."""
    if document.get("kind") == "Pod" and isinstance(document.get("spec"), dict):
        yield ["spec"], document["spec"]
    yield from _templates(document, [], budget or NodeBudget("a document"))


def _templates(node, parts, budget):
    budget.spend()
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _templates(item, parts + [index], budget)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "template" and isinstance(value, dict) and isinstance(value.get("spec"), dict) \
                and any(k in value["spec"] for k in CONTAINER_KEYS):
            yield parts + [key, "spec"], value["spec"]
        yield from _templates(value, parts + [key], budget)


class ManifestReader:
    """Reads manifest files into `findings`; `queries` (queries.py) run on every document."""

    def __init__(self, findings, queries=None):
        self.findings = findings
        self.queries = queries
        self.files = 0
        self.documents = 0

    def read(self, path):
        self.files += 1
        text = read_file(path)
        try:
            documents = load_all(text, path)
        except YAMLSyntaxError as exc:
            if "{{" not in text:
                raise
            self._template_text(text, path, exc)
            return
        budget = NodeBudget(path)
        try:
            for number, document in enumerate(documents):
                # a file may also hold a plain YAML sequence of objects
                for top, top_prefix in _top_objects(document):
                    for item, prefix in documents_of(top, top_prefix):
                        self.documents += 1
                        self.scan(item, path, list(prefix), number, budget)
        except RecursionError as exc:
            raise InputError("Error reading %s: nested too deeply" % path) from exc

    def scan(self, document, path, prefix, number=0, budget=None):
        where = object_name(document)
        for spec_path, spec in pod_specs(document, budget):
            for key in CONTAINER_KEYS:
                containers = spec.get(key)
                if not isinstance(containers, list):
                    continue
                for index, container in enumerate(containers):
                    image = container.get("image") if isinstance(container, dict) else None
                    if isinstance(image, str) and image.strip():
                        parts = prefix + spec_path + [key, index, "image"]
                        self.findings.image(image, Location(path, where, format_path(parts), document=number))
        if self.queries is not None:
            self.queries.run(document, Location(path, where, format_path(prefix), document=number))

    def _template_text(self, text, path, error):
        """A Helm template: literal `image:` lines are images; templated ones are unresolved."""
        found = False
        for number, value in image_lines(text):
            found = True
            location = Location(path, "", "line %d" % number)
            if is_template(value):
                self.findings.unknown(value, "a template expression, not rendered; render the chart (helm "
                                             "template) and pass the output as manifests", location)
            else:
                self.findings.image(value, Location(path, "", "line %d" % number, "from an unrendered template"))
        if not found:
            self.findings.unknown(path, "a template that is not YAML until rendered (%s); render it (helm template) "
                                        "and pass the output as manifests" % error,
                                  Location(path, "", "line %d" % error.line if error.line else ""))


def image_lines(text):
    """(line number, value) of every `image: value` line of a text that may not be YAML (a Helm template);
    values that are YAML structures rather than scalars are left out."""
    for number, line in enumerate(text.splitlines(), 1):
        match = _IMAGE_LINE_RE.match(line)
        if not match:
            continue
        value = match.group("value").split(" #", 1)[0].strip().strip("\"'")
        if value and (is_template(value) or not value.startswith(("{", "[", "&", "*", "|", ">"))):
            yield number, value
