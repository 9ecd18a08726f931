# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helm charts, from a directory or a `.tgz`, with their subcharts under `charts/` (private module_utils, no
Ansible imports).

Without helm nothing is rendered. What a chart declares is read: the Artifact Hub annotation
`artifacthub.io/images` of Chart.yaml, the `image:` lines its templates write literally, and the images of its
values (values.py), merged as helm merges them:
the chart's values.yaml, then the user's values files in order; a subchart gets its own values.yaml under
what its parents set at its name (or alias), and every parent's `global`. A subchart whose dependency
`condition` (or `tags`) is false in the merged values is not read, as helm would not render it.

Archives are read in memory, member by member, and never extracted.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
from dataclasses import dataclass

from .._errors import InputError
from .documents import MAX_DOCUMENT_BYTES, decode, load_all, load_one
from .findings import Location, format_path, is_template
from .manifests import image_lines
from .values import ChartValues, ValuesLayer, ValuesScanner, get_path

ARTIFACTHUB_IMAGES = "artifacthub.io/images"
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".tpl")
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024
MAX_DEPTH = 10


class _DirectoryFiles:
    """The files of a chart directory, by path relative to it."""

    def __init__(self, root, label):
        self.root = root
        self.label = label

    def read(self, name):
        path = os.path.join(self.root, *name.split("/"))
        if not os.path.isfile(path):
            return None
        try:
            with open(path, "rb") as handle:
                return handle.read(MAX_DOCUMENT_BYTES + 1)
        except OSError as exc:
            raise InputError("Error reading %s: %s" % (self.where(name), exc.strerror or exc)) from exc

    def where(self, name):
        return posixpath.join(self.label, name)

    def templates(self):
        """Names of the template files, relative to the chart, sorted."""
        folder = os.path.join(self.root, "templates")
        names = []
        for current, dirs, files in os.walk(folder):
            dirs.sort()
            relative = os.path.relpath(current, self.root).replace(os.sep, "/")
            names.extend(posixpath.join(relative, f) for f in files if f.endswith(TEMPLATE_SUFFIXES))
        return sorted(names)

    def subcharts(self):
        """(label, files) of every chart under charts/: directories with a Chart.yaml and .tgz archives."""
        folder = os.path.join(self.root, "charts")
        if not os.path.isdir(folder):
            return []
        found = []
        for entry in sorted(os.listdir(folder)):
            path = os.path.join(folder, entry)
            if os.path.isdir(path) and os.path.isfile(os.path.join(path, "Chart.yaml")):
                found.append(_DirectoryFiles(path, self.where("charts/" + entry)))
            elif entry.endswith((".tgz", ".tar.gz")) and os.path.isfile(path):
                with open(path, "rb") as handle:
                    data = handle.read(MAX_ARCHIVE_BYTES + 1)
                found.append(_ArchiveFiles.from_bytes(data, self.where("charts/" + entry)))
        return found


class _ArchiveFiles:
    """The files of one chart inside a .tgz (the members under its top folder), or a subchart folder in it."""

    def __init__(self, members, top, label):
        self.members = members      # member path -> bytes, for the whole archive
        self.top = top              # the chart's folder in the archive: "nginx", "nginx/charts/common"
        self.label = label          # the archive as the user knows it: "nginx-1.0.0.tgz"

    @classmethod
    def from_bytes(cls, data, label):
        if len(data) > MAX_ARCHIVE_BYTES:
            raise InputError("Error reading chart %s: larger than %d bytes" % (label, MAX_ARCHIVE_BYTES))
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
                members = {}
                for member in archive.getmembers():
                    name = posixpath.normpath(member.name.lstrip("/"))
                    if not member.isfile() or name.startswith(".."):
                        continue
                    limit = _member_limit(name)
                    if limit:  # one byte over the limit is enough for decode() to refuse it by name
                        members[name] = archive.extractfile(member).read(limit + 1)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise InputError("Error reading chart %s: not a gzip'd tar archive (%s)" % (label, exc)) from exc
        tops = sorted({name.split("/", 1)[0] for name in members if name.endswith("/Chart.yaml")
                       and name.count("/") == 1})
        if not tops:
            raise InputError("Error reading chart %s: no <chart>/Chart.yaml in the archive" % label)
        return cls(members, tops[0], label)

    def read(self, name):
        return self.members.get(posixpath.join(self.top, name))

    def where(self, name):
        return "%s:%s" % (self.label, posixpath.join(self.top, name))

    def templates(self):
        prefix = self.top + "/"
        return sorted(name[len(prefix):] for name in self.members
                      if name.startswith(prefix + "templates/") and name.endswith(TEMPLATE_SUFFIXES))

    def subcharts(self):
        prefix = self.top + "/charts/"
        found = []
        folders = sorted({name[len(prefix):].split("/", 1)[0] for name in self.members
                          if name.startswith(prefix) and name[len(prefix):].count("/") == 1
                          and name.endswith("/Chart.yaml")})
        for folder in folders:
            found.append(_ArchiveFiles(self.members, prefix + folder, self.label))
        for name in sorted(self.members):
            rest = name[len(prefix):] if name.startswith(prefix) else None
            if rest and "/" not in rest and rest.endswith((".tgz", ".tar.gz")):
                found.append(_ArchiveFiles.from_bytes(self.members[name], self.where("charts/" + rest)))
        return found


def _member_limit(name):
    """Only what is read is kept in memory, and at most this many bytes of it: Chart.yaml, values.yaml,
    requirements.yaml, templates, nested chart archives; 0 for anything else."""
    base = posixpath.basename(name)
    if base in ("Chart.yaml", "values.yaml", "requirements.yaml") or (
            "/templates/" in name and base.endswith(TEMPLATE_SUFFIXES)):
        return MAX_DOCUMENT_BYTES
    return MAX_ARCHIVE_BYTES if base.endswith((".tgz", ".tar.gz")) else 0


def open_chart(path):
    """The files of the chart at `path` (a directory or a .tgz); InputError when it is neither."""
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "Chart.yaml")):
            raise InputError("Error reading chart %s: no Chart.yaml in the directory" % path)
        return _DirectoryFiles(path, path.rstrip("/") or "/")
    if os.path.isfile(path):
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_ARCHIVE_BYTES + 1)
        except OSError as exc:
            raise InputError("Error reading chart %s: %s" % (path, exc.strerror or exc)) from exc
        return _ArchiveFiles.from_bytes(data, path)
    raise InputError("Error reading chart %s: no such directory or file; expected a chart directory or a .tgz"
                     % path)


@dataclass
class ChartInfo:
    """What the result says about each chart read (or left out)."""

    file: str
    name: str
    version: str
    parent: str = ""
    values_key: str = ""
    enabled: bool = True
    reason: str = ""
    images: int = 0

    def as_dict(self):
        result = dict(file=self.file, name=self.name, version=self.version, enabled=self.enabled,
                      images_found=self.images)
        if self.parent:
            result["parent"] = self.parent
            result["values_key"] = self.values_key
        if self.reason:
            result["reason"] = self.reason
        return result


def _metadata(files):
    text = files.read("Chart.yaml")
    origin = files.where("Chart.yaml")
    if text is None:
        raise InputError("Error reading chart %s: no Chart.yaml" % origin)
    metadata = load_one(decode(text, origin), origin)
    if not isinstance(metadata.get("name"), str) or not metadata["name"]:
        raise InputError("Error reading %s: the chart has no name" % origin)
    return metadata


def _dependencies(files, metadata):
    deps = metadata.get("dependencies")
    if deps is None:  # apiVersion v1 charts list them in requirements.yaml
        text = files.read("requirements.yaml")
        if text is not None:
            origin = files.where("requirements.yaml")
            deps = load_one(decode(text, origin), origin).get("dependencies")
    return [d for d in deps or [] if isinstance(d, dict) and isinstance(d.get("name"), str)]


def _own_values(files):
    origin = files.where("values.yaml")
    text = files.read("values.yaml")
    tree = load_one(decode(text, origin), origin) if text is not None else {}
    return ValuesLayer(origin, (), tree)


def _enabled(dependency, parent_values):
    """helm's rule: the first `condition` path that holds a boolean decides; else a tag set true enables, a tag
    set false (and none true) disables; else enabled. (value, reason)."""
    for condition in str(dependency.get("condition") or "").split(","):
        condition = condition.strip()
        if not condition:
            continue
        try:
            value = get_path(parent_values, condition.split("."))
        except KeyError:
            continue
        if isinstance(value, bool):
            return value, "" if value else "condition %s is false" % condition
    tags = parent_values.get("tags") if isinstance(parent_values.get("tags"), dict) else {}
    states = [tags[t] for t in dependency.get("tags") or [] if isinstance(tags.get(t), bool)]
    if states and not any(states):
        return False, "tags %s are false" % ", ".join(str(t) for t in dependency.get("tags"))
    return True, ""


class ChartReader:
    """Reads charts and their subcharts into `findings`; `charts` lists each chart read or left out."""

    def __init__(self, findings):
        self.findings = findings
        self.charts = []

    def read(self, path, values_files):
        """The chart at `path`, with user values files [(file, tree)] merged over its own."""
        files = open_chart(path)
        layers = [_own_values(files)] + [ValuesLayer(file, (), tree) for file, tree in values_files]
        try:
            self._read(files, layers, None, None, "", 0)
        except RecursionError as exc:
            raise InputError("Error reading chart %s: its values are nested too deeply" % path) from exc

    def _read(self, files, layers, global_values, parent, values_key, depth):
        if depth > MAX_DEPTH:
            raise InputError("Error reading chart %s: subcharts nested more than %d deep"
                             % (files.where(""), MAX_DEPTH))
        metadata = _metadata(files)
        name = metadata["name"]
        info = ChartInfo(files.where("Chart.yaml")[:-len("/Chart.yaml")], name, str(metadata.get("version") or ""),
                         parent.name if parent else "", values_key)
        self.charts.append(info)
        chart_object = "Chart/%s" % name
        values = ChartValues(layers, global_values)
        before = len(self.findings.images)
        self._annotation(files, metadata, chart_object)
        ValuesScanner(values, chart_object, metadata.get("appVersion"), self.findings).scan()
        self._templates(files, chart_object)
        info.images = len(self.findings.images) - before
        self._subcharts(files, metadata, layers, values, info, depth)

    def _annotation(self, files, metadata, chart_object):
        annotations = metadata.get("annotations")
        text = annotations.get(ARTIFACTHUB_IMAGES) if isinstance(annotations, dict) else None
        if text is None:
            return
        origin = files.where("Chart.yaml")
        base = ["annotations", ARTIFACTHUB_IMAGES]
        try:
            entries = load_all(text, "%s annotation %s" % (origin, ARTIFACTHUB_IMAGES)) if isinstance(text, str) \
                else [text]
        except InputError as exc:  # another's chart with a broken annotation: its values are still read
            self.findings.unknown(text, str(exc), Location(origin, chart_object, format_path(base)))
            return
        entries = entries[0] if len(entries) == 1 else entries
        if not isinstance(entries, list):
            self.findings.unknown(text, "the annotation is not a YAML list of {name, image}",
                                  Location(origin, chart_object, format_path(base)))
            return
        for index, entry in enumerate(entries):
            image = entry.get("image") if isinstance(entry, dict) else None
            where = Location(origin, chart_object, format_path(base + [index, "image"]))
            if isinstance(image, str) and image.strip():
                self.findings.image(image, where)
            else:
                self.findings.unknown(entry, "an annotation entry without an image", where)

    def _templates(self, files, chart_object):
        """Images written literally in the templates (a fixed init container, a test pod); the templated ones
        come from the values, read above."""
        for name in files.templates():
            text = decode(files.read(name), files.where(name))
            for number, value in image_lines(text):
                if not is_template(value):
                    self.findings.image(value, Location(files.where(name), chart_object, "line %d" % number,
                                                        "written in the template"))

    def _subcharts(self, files, metadata, layers, values, info, depth):
        available = {}
        order = []
        for sub in files.subcharts():
            sub_metadata = _metadata(sub)
            available.setdefault(sub_metadata["name"], sub)
            order.append(sub_metadata["name"])
        used = set()
        plans = []
        for dependency in _dependencies(files, metadata):
            chart_name = dependency["name"]
            key = dependency.get("alias") or chart_name
            if chart_name not in available:
                where = Location(files.where("Chart.yaml"), "Chart/%s" % metadata["name"], "dependencies")
                self.findings.unknown(chart_name, "a dependency missing from charts/; run helm dependency build "
                                                  "(or helm pull) first", where)
                continue
            used.add(chart_name)
            plans.append((available[chart_name], key, dependency))
        for chart_name in order:  # vendored charts not listed as dependencies are rendered too
            if chart_name not in used:
                used.add(chart_name)
                plans.append((available[chart_name], chart_name, {}))
        for sub, key, dependency in plans:
            enabled, reason = _enabled(dependency, values.tree)
            if not enabled:
                sub_metadata = _metadata(sub)
                self.charts.append(ChartInfo(sub.where("Chart.yaml")[:-len("/Chart.yaml")], sub_metadata["name"],
                                             str(sub_metadata.get("version") or ""), info.name, key, False, reason))
                continue
            sub_layers = [_own_values(sub)] + [ValuesLayer(layer.file, layer.prefix + (key,), layer.tree)
                                               for layer in layers]
            self._read(sub, sub_layers, values.tree.get("global") if isinstance(values.tree.get("global"), dict)
                       else None, info, key, depth + 1)
