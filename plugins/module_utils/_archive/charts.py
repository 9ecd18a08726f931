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
