"""Charts and files in the form Hangar v1.9.2 stores them (pkg/hangar/archive/oci/chart.go, file.go, common.go)."""

import io
import json
import tarfile

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._archive.charts import (
    FILE_LAYER,
    HELM_CHART_LAYER,
    HELM_CONFIG,
    chart_artifact,
    created_now,
    file_artifact,
    go_json,
    package_chart_directory,
)
from ansible_collections.airgap.hangar.plugins.module_utils._errors import InputError
from ansible_collections.airgap.hangar.plugins.module_utils._image.digest import sha256_digest

CHART_YAML = "apiVersion: v2\nname: web\nversion: 2.0.0+meta\ndescription: Web & <api>\nhome: https://x.example\n"


def chart_tgz(tmp_path, chart_yaml=CHART_YAML):
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as archive:
        for name, content in (("web/Chart.yaml", chart_yaml), ("web/values.yaml", "a: 1\n")):
            info = tarfile.TarInfo(name)
            info.size = len(content.encode())
            archive.addfile(info, io.BytesIO(content.encode()))
    path = tmp_path / "web-2.0.0.tgz"
    path.write_bytes(data.getvalue())
    return path


def test_a_chart_is_a_one_layer_oci_image_under_hangar_helm(tmp_path):
    path = chart_tgz(tmp_path)
    artifact = chart_artifact(str(path), created="2026-12-01T10:00:00Z")
    assert artifact.reference == "docker.io/hangar-helm/web:2.0.0-meta"  # "+" becomes "-", as Hangar does
    manifest = json.loads(artifact.manifest)
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"] == {"mediaType": HELM_CONFIG, "digest": sha256_digest(artifact.config),
                                  "size": len(artifact.config)}
    assert manifest["layers"] == [{"mediaType": HELM_CHART_LAYER, "digest": sha256_digest(path.read_bytes()),
                                   "size": path.stat().st_size}]
    assert manifest["annotations"]["org.opencontainers.image.title"] == "web"
    assert manifest["annotations"]["org.opencontainers.image.version"] == "2.0.0+meta"
    assert manifest["annotations"]["org.opencontainers.image.vendor"] == "hangar"
    config = json.loads(artifact.config)
    assert list(config) == ["name", "home", "version", "description", "apiVersion"]  # helm's Metadata order
    assert b"\\u0026 \\u003capi\\u003e" in artifact.config  # Go's json escapes HTML characters
    assert artifact.open_layer().read() == path.read_bytes()


def test_a_file_is_stored_under_hangar_file(tmp_path):
    path = tmp_path / "rke2.tar.gz"
    path.write_bytes(b"\x1f\x8b" + b"x" * 5000)
    artifact = file_artifact(str(path), created="2026-12-01T10:00:00Z")
    assert artifact.reference == "docker.io/hangar-file/rke2.tar.gz:latest"
    assert artifact.config == b'{\n  "Name": "rke2.tar.gz"\n}'
    manifest = json.loads(artifact.manifest)
    assert manifest["layers"][0]["mediaType"] == FILE_LAYER
    assert manifest["layers"][0]["digest"] == sha256_digest(path.read_bytes())
    assert manifest["annotations"]["org.opencontainers.image.description"] == str(path)
    with artifact.open_layer() as stream:
        assert stream.read() == path.read_bytes()


def test_a_chart_directory_packages_the_same_bytes_every_time(tmp_path):
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: dirchart\nversion: 0.1.0\n")
    (chart / "templates" / "a.yaml").write_text("kind: ConfigMap\n")
    (chart / ".helmignore").write_text("*.tmp\n")
    first = package_chart_directory(str(chart))
    assert package_chart_directory(str(chart)) == first
    with tarfile.open(fileobj=io.BytesIO(first)) as archive:
        assert archive.getnames() == ["dirchart/Chart.yaml", "dirchart/templates/a.yaml"]
    assert chart_artifact(str(chart)).reference == "docker.io/hangar-helm/dirchart:0.1.0"


@pytest.mark.parametrize("content, message", [
    (b"not a tarball", "not a chart archive"),
    (None, "no <chart>/Chart.yaml"),
])
def test_bad_charts_name_the_path(tmp_path, content, message):
    path = tmp_path / "bad.tgz"
    if content is None:
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w:gz") as archive:
            info = tarfile.TarInfo("x/values.yaml")
            archive.addfile(info, io.BytesIO(b""))
        content = data.getvalue()
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as raised:
        chart_artifact(str(path))
    assert str(path) in str(raised.value)


def test_times_and_json_as_go_writes_them():
    assert go_json({"a": "<&>"}) == b'{\n  "a": "\\u003c\\u0026\\u003e"\n}'
    text = created_now()
    assert len(text) in (20, 25) and "." not in text
