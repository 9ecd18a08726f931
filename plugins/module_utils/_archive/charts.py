# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helm charts and plain files in a Hangar archive, stored as Hangar v1.9.2 stores them
(private module_utils, no Ansible imports).

Hangar (pkg/hangar/archive/oci) turns a chart or a file into a one-layer OCI image manifest:
- a chart is `docker.io/hangar-helm/<chart name>:<chart version>` ("+" in the version becomes
  "-"), its config the chart's metadata (Chart.yaml as JSON) with the Helm config media type, its
  one layer the chart archive (`.tgz`) with the Helm chart content media type;
- a file is `docker.io/hangar-file/<file name>:latest`, its config `{"Name": "<file name>"}` with
  the same config media type, its one layer the file's bytes with Hangar's file layer media type;
- the manifest carries OCI annotations (title, description, vendor, created; for charts also
  version and url), and the archive index records the entry with no architecture or OS.
So `hangar_load` pushes them like any image, and `helm pull oci://<registry>/hangar-helm/<name>
--version <version>` works against the registry they were loaded into.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import zlib
from datetime import datetime

from .._errors import InputError
from .._image.digest import CHUNK_SIZE, sha256_digest
from .._image.media_types import OCI_MANIFEST
from .._requirements import yaml  # a missing PyYAML is reported when a chart is read

CHART_PROJECT = "hangar-helm"
FILE_PROJECT = "hangar-file"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
FILE_LAYER = "application/vnd.content.hangar.file.layer.v1"


def artifact_kind(entry):
    """"chart", "file" or None (an image), from the project Hangar stores the entry under."""
    parts = entry.source.split("/")
    if len(parts) == 3 and parts[1] == CHART_PROJECT:
        return "chart"
    if len(parts) == 3 and parts[1] == FILE_PROJECT:
        return "file"
    return None


# -- building the stored form

# helm.sh/helm/v3/pkg/chart.Metadata, in its field order (Hangar marshals it as the config).
_CHART_METADATA_KEYS = ("name", "home", "sources", "version", "description", "keywords", "maintainers", "icon",
                        "apiVersion", "condition", "tags", "appVersion", "deprecated", "annotations", "kubeVersion",
                        "dependencies", "type")
_CHART_YAML_RE = re.compile(r"^[^/]+/Chart\.yaml$")


class StoredArtifact:
    """A chart or a file as Hangar stores it: `source`, `tag`, `config` bytes, `manifest` bytes
    (one layer: `layer_digest`, `layer_size`, `layer_media_type`), the manifest's `annotations`,
    and `open_layer()` for the layer's bytes."""

    def __init__(self, kind, source, tag, config, layer_digest, layer_size, layer_media_type, annotations,
                 open_layer):
        self.kind = kind
        self.source = source
        self.tag = tag
        self.config = config
        self.config_digest = sha256_digest(config)
        self.layer_digest = layer_digest
        self.layer_size = layer_size
        self.layer_media_type = layer_media_type
        self.annotations = annotations
        self.open_layer = open_layer
        manifest = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": HELM_CONFIG, "digest": self.config_digest, "size": len(config)},
            "layers": [{"mediaType": layer_media_type, "digest": layer_digest, "size": layer_size}],
            "annotations": dict(sorted(annotations.items())),
        }
        self.manifest = go_json(manifest)
        self.manifest_digest = sha256_digest(self.manifest)

    @property
    def reference(self):
        return "%s:%s" % (self.source, self.tag)


def go_json(document):
    """JSON as Go's json.MarshalIndent(v, "", "  ") writes it (HTML characters escaped, UTF-8 kept)."""
    text = json.dumps(document, indent=2, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode("utf-8")


def created_now():
    """time.Now().Format(time.RFC3339), as Hangar records `org.opencontainers.image.created`."""
    moment = datetime.now().astimezone().replace(microsecond=0)
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def chart_artifact(path, created=None):
    """A chart from a `.tgz` (or `.tar.gz`) file or a chart directory (packaged as `helm package`
    would, reproducibly: same files, same bytes)."""
    if os.path.isdir(path):
        data = package_chart_directory(path)
    else:
        try:
            with open(path, "rb") as stream:
                data = stream.read()
        except OSError as exc:
            raise InputError("Error reading chart %s: %s" % (path, exc.strerror or exc)) from exc
    metadata = chart_metadata(data, path)
    name, version = metadata.get("name"), str(metadata.get("version") or "")
    if not isinstance(name, str) or not name:
        raise InputError("Error reading chart %s: its Chart.yaml has no name" % path)
    annotations = {
        "org.opencontainers.image.vendor": "hangar",
        "org.opencontainers.image.created": created or created_now(),
        "org.opencontainers.image.url": str(metadata.get("home") or ""),
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.title": name,
        "org.opencontainers.image.description": str(metadata.get("description") or ""),
    }
    config = go_json({key: metadata[key] for key in _CHART_METADATA_KEYS
                      if metadata.get(key) not in (None, "", [], {})})
    return StoredArtifact("chart", "docker.io/%s/%s" % (CHART_PROJECT, name), (version or "latest").replace("+", "-"),
                          config, sha256_digest(data), len(data), HELM_CHART_LAYER, annotations,
                          lambda: io.BytesIO(data))


def file_artifact(path, created=None):
    """A plain file, streamed (it may be large): hashed once here, verified again as it is stored."""
    name = os.path.basename(os.path.normpath(path))
    if os.path.isdir(path):
        raise InputError("Error storing file %s: it is a directory; give files one by one" % path)
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as stream:
            for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise InputError("Error reading file %s: %s" % (path, exc.strerror or exc)) from exc
    annotations = {
        "org.opencontainers.image.title": name,
        "org.opencontainers.image.description": path,
        "org.opencontainers.image.vendor": "Hangar",
        "org.opencontainers.image.created": created or created_now(),
    }
    return StoredArtifact("file", "docker.io/%s/%s" % (FILE_PROJECT, name), "latest", go_json({"Name": name}),
                          "sha256:" + digest.hexdigest(), size, FILE_LAYER, annotations,
                          lambda: open(path, "rb"))


def chart_metadata(data, where):
    """Chart.yaml of a packaged chart, as a dict."""
    if yaml.import_error():
        raise InputError("Error reading chart %s: the Python library PyYAML is needed to read Chart.yaml" % where)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            member = next((m for m in archive.getmembers() if m.isfile() and _CHART_YAML_RE.match(m.name)), None)
            if member is None:
                raise InputError("Error reading chart %s: no <chart>/Chart.yaml in it" % where)
            document = yaml.safe_load(archive.extractfile(member).read())
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise InputError("Error reading chart %s: not a chart archive (.tgz): %s" % (where, exc)) from exc
    except yaml.YAMLError as exc:
        raise InputError("Error reading chart %s: Chart.yaml is not valid YAML: %s" % (where, exc)) from exc
    if not isinstance(document, dict):
        raise InputError("Error reading chart %s: Chart.yaml is not a mapping" % where)
    return document


def package_chart_directory(directory):
    """A chart directory as `<name>/...` in a gzip'd tar, with fixed times and owners, sorted."""
    directory = os.path.normpath(directory)
    if not os.path.isfile(os.path.join(directory, "Chart.yaml")):
        raise InputError("Error reading chart %s: the directory has no Chart.yaml" % directory)
    with open(os.path.join(directory, "Chart.yaml"), "rb") as stream:
        try:
            name = (yaml.safe_load(stream) or {}).get("name") if not yaml.import_error() else None
        except (yaml.YAMLError, AttributeError) as exc:
            raise InputError("Error reading chart %s: Chart.yaml is not valid YAML: %s" % (directory, exc)) from exc
    name = name if isinstance(name, str) and name else os.path.basename(directory)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed, \
            tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for root, folders, files in os.walk(directory):
            folders.sort()
            folders[:] = [folder for folder in folders if not folder.startswith(".")]
            for file_name in sorted(files):
                if file_name.startswith("."):
                    continue
                full = os.path.join(root, file_name)
                relative = os.path.relpath(full, directory).replace(os.sep, "/")
                info = tarfile.TarInfo("%s/%s" % (name, relative))
                with open(full, "rb") as stream:
                    content = stream.read()
                info.size, info.mtime, info.mode = len(content), 0, 0o644
                archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()
