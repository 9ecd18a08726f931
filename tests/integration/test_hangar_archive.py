"""hangar_archive: merge, export, charts and files stored as Hangar v1.9.2 stores them, checksum files.

Round trips end in a real registry: the merged or exported archive is loaded with hangar_load and
skopeo reads the same digests; a stored chart's manifest and layer are read back from the registry.
"""

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._archive.charts import (
    FILE_LAYER,
    HELM_CHART_LAYER,
    HELM_CONFIG,
)
from ansible_collections.airgap.hangar.plugins.module_utils._archive.reader import ArchiveReader
from tests.support import skopeo
from tests.support.archive_checks import check_archive_layout
from tests.support.image_sets import (
    ALL_PLATFORMS,
    SMALL_TAG,
    assert_registry_holds,
    digest_of,
    push_small_set,
    references,
)
from tests.support.module_runner import run_module


def file_state(path):
    with open(path, "rb") as stream:
        return os.stat(path).st_mtime_ns, hashlib.sha256(stream.read()).hexdigest()


def ok(result):
    assert result.get("failed") is not True, result.get("msg")
    return result


@pytest.fixture
def source(registry_factory, client_for, image_factory):
    server = registry_factory()
    return server, push_small_set(client_for(server), image_factory)


def save(server, repositories, archive, **platforms):
    return ok(run_module("hangar_save", dict(images=references(server.host, repositories), archive=str(archive),
                                             tls_verify=False, **(platforms or ALL_PLATFORMS))))


def load(archive, destination):
    return ok(run_module("hangar_load", dict(archive=str(archive), registry=destination.host, tls_verify=False,
                                             **ALL_PLATFORMS)))


def test_merge_round_trip_check_mode_diff_and_idempotence(source, registry_factory, tmp_path):
    server, images = source
    names = sorted(images)
    first, second, merged = tmp_path / "a.zip", tmp_path / "b.zip", tmp_path / "merged.zip"
    save(server, names[:2], first)
    save(server, names[2:], second)
    args = dict(path=str(merged), merge=[str(first), str(second)])

    predicted = ok(run_module("hangar_archive", args, check_mode=True, diff=True))
    assert predicted["changed"] is True and not merged.exists()
    assert sorted(e["reference"] for e in predicted["diff"]["after"]["entries"]) == \
        sorted(references(server.host, names))
    done = ok(run_module("hangar_archive", args, diff=True))
    assert done["changed"] is True and [e["action"] for e in done["entries"]] == ["added"] * 4
    assert done["diff"] == predicted["diff"]
    check_archive_layout(str(merged))
    state = file_state(merged)
    again = ok(run_module("hangar_archive", args, check_mode=True))
    assert again["changed"] is False
    rerun = ok(run_module("hangar_archive", args))
    assert rerun["changed"] is False and {e["action"] for e in rerun["entries"]} == {"unchanged"}
    assert file_state(merged) == state

    destination = registry_factory()
    load(merged, destination)
    assert_registry_holds(destination, images)  # skopeo: every top-level and platform digest as at the source


def test_merge_keeps_the_union_of_platforms(source, registry_factory, tmp_path):
    server, images = source
    tool = images["small/tool"]
    amd64, arm64 = tmp_path / "amd64.zip", tmp_path / "arm64.zip"
    save(server, ["small/tool"], amd64, arch=["amd64"], os=[])
    save(server, ["small/tool"], arm64, arch=["arm64"], os=[])
    result = ok(run_module("hangar_archive", dict(path=str(amd64), merge=[str(arm64)]), diff=True))
    assert [e["action"] for e in result["entries"]] == ["replaced"]
    change = result["entries"][0]
    assert len(change["before"]["platforms"]) == 1 and len(change["after"]["platforms"]) == 2
    with ArchiveReader(str(amd64)) as reader:
        reader.verify(check_content=True)
        entry = reader.index.find("%s/small/tool" % server.host, SMALL_TAG)
        assert sorted((i.arch, i.variant) for i in entry.images) == [("amd64", ""), ("arm64", "v8")]
    destination = registry_factory()
    load(amd64, destination)
    top = json.loads(skopeo.inspect_raw("small/tool:%s" % SMALL_TAG, destination))
    wanted = {child.digest for child in tool.children
              if json.loads(child.data).get("config") and child.digest in {i.digest for i in entry.images}}
    assert {m["digest"] for m in top["manifests"]} == wanted
    for digest in wanted:
        assert digest_of(skopeo.inspect_raw("small/tool@%s" % digest, destination)) == digest


def test_export_some_images_and_platforms(source, registry_factory, tmp_path):
    server, images = source
    full, part = tmp_path / "full.zip", tmp_path / "part.zip"
    save(server, sorted(images), full)
    args = dict(path=str(part), from_archive=str(full), images=references(server.host, ["small/tool"]),
                arch=["arm/v7"], os=[])
    result = ok(run_module("hangar_archive", args))
    assert result["changed"] is True
    with ArchiveReader(str(part)) as reader:
        entries = reader.index.entries
        assert [e.reference for e in entries] == references(server.host, ["small/tool"])
        assert [(i.arch, i.variant) for i in entries[0].images] == [("arm", "v7")]
    assert ok(run_module("hangar_archive", args))["changed"] is False
    missing = run_module("hangar_archive", dict(args, images=["%s/small/nothing:1" % server.host]))
    assert missing.get("failed") is True and "small/nothing" in missing["msg"]

    destination = registry_factory()
    load(part, destination)
    arm = next(c for c in images["small/tool"].children if c.digest == entries[0].images[0].digest)
    assert digest_of(skopeo.inspect_raw("small/tool@%s" % arm.digest, destination)) == arm.digest


def make_chart(directory, name="demo", version="1.2.3+build.4"):
    chart = directory / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: %s\nversion: %s\ndescription: A <demo> chart\n"
                                      "home: https://example.com/demo\nappVersion: \"9.9\"\n" % (name, version))
    (chart / "values.yaml").write_text("replicas: 1\n")
    (chart / "templates" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: demo}\n")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as archive:
        archive.add(str(chart), arcname=name)
    tgz = directory / ("%s-%s.tgz" % (name, version))
    tgz.write_bytes(data.getvalue())
    return chart, tgz


def test_a_chart_and_a_file_stored_and_loaded(registry_factory, client_for, tmp_path):
    chart_dir, tgz = make_chart(tmp_path)
    payload = tmp_path / "install.sh"
    payload.write_bytes(b"#!/bin/sh\necho offline install\n" * 1000)
    archive = tmp_path / "release.zip"
    args = dict(path=str(archive), charts=[str(tgz)], files=[str(payload)])
    predicted = ok(run_module("hangar_archive", args, check_mode=True, diff=True))
    assert predicted["changed"] is True and not archive.exists()
    stored = ok(run_module("hangar_archive", args, diff=True))
    assert [(e["reference"], e["kind"], e["action"]) for e in stored["entries"]] == [
        ("docker.io/hangar-helm/demo:1.2.3-build.4", "chart", "added"),
        ("docker.io/hangar-file/install.sh:latest", "file", "added")]
    state = file_state(archive)
    assert ok(run_module("hangar_archive", args))["changed"] is False
    assert file_state(archive) == state

    # check_archive_layout wants every image with a platform; Hangar records charts and files without.
    info = ok(run_module("hangar_archive_info", dict(archive=str(archive), verify=True)))
    assert info["verified"] is True and info["images"] == []
    assert [(c["name"], c["version"]) for c in info["charts"]] == [("demo", "1.2.3-build.4")]
    assert [f["name"] for f in info["files"]] == ["install.sh"]
    with ArchiveReader(str(archive)) as reader:
        doc = json.loads(reader.read_entry("index.json"))
    chart_entry = doc["list"][0]
    assert "archList" not in chart_entry and "arch" not in chart_entry["images"][0]  # as Hangar records it

    destination = registry_factory()
    loaded = load(archive, destination)
    assert loaded["stats"]["copied"] == 2
    client = client_for(destination)
    manifest = client.get_manifest("hangar-helm/demo", "1.2.3-build.4")
    assert manifest.config["mediaType"] == HELM_CONFIG
    assert [layer["mediaType"] for layer in manifest.layers] == [HELM_CHART_LAYER]
    assert client.get_blob("hangar-helm/demo", manifest.layers[0]["digest"]) == tgz.read_bytes()
    config = json.loads(client.get_blob("hangar-helm/demo", manifest.config["digest"]))
    assert config["name"] == "demo" and config["version"] == "1.2.3+build.4"
    file_manifest = client.get_manifest("hangar-file/install.sh", "latest")
    assert file_manifest.layers[0]["mediaType"] == FILE_LAYER
    assert client.get_blob("hangar-file/install.sh", file_manifest.layers[0]["digest"]) == payload.read_bytes()
    validated = ok(run_module("hangar_validate", dict(archive=str(archive), registry=destination.host,
                                                      tls_verify=False, **ALL_PLATFORMS)))
    assert validated["stats"] == dict(validated["stats"], images=2, passed=2, failed=0)
    defaults = ok(run_module("hangar_validate", dict(archive=str(archive), registry=destination.host,
                                                     tls_verify=False)))  # the default arch filter passes them too
    assert defaults["stats"]["passed"] == 2
    helm = shutil.which("helm")
    if helm:  # the real client, when the machine has it
        subprocess.run([helm, "pull", "oci://%s/hangar-helm/demo" % destination.host, "--version", "1.2.3-build.4",
                        "--plain-http", "-d", str(tmp_path / "pulled")], check=True, capture_output=True)


def test_a_chart_directory_is_packaged_reproducibly(tmp_path):
    chart_dir, _tgz = make_chart(tmp_path, name="dirchart", version="0.1.0")
    archive = tmp_path / "charts.zip"
    first = ok(run_module("hangar_archive", dict(path=str(archive), charts=[str(chart_dir)])))
    assert first["changed"] is True
    assert ok(run_module("hangar_archive", dict(path=str(archive), charts=[str(chart_dir)])))["changed"] is False
    (chart_dir / "values.yaml").write_text("replicas: 2\n")
    changed = ok(run_module("hangar_archive", dict(path=str(archive), charts=[str(chart_dir)]), diff=True))
    assert [e["action"] for e in changed["entries"]] == ["replaced"]
    bad = run_module("hangar_archive", dict(path=str(archive), charts=[str(tmp_path / "missing.tgz")]))
    assert bad.get("failed") is True and "missing.tgz" in bad["msg"]


def test_checksum_file_checks_with_sha256sum_in_another_folder(source, tmp_path):
    server, images = source
    archive = tmp_path / "images.zip"
    save(server, sorted(images)[:1], archive)
    result = ok(run_module("hangar_archive", dict(path=str(archive), checksum_file=True)))
    assert result["changed"] is True
    line = (tmp_path / "images.zip.sha256").read_text()
    assert line == "%s  images.zip\n" % hashlib.sha256(archive.read_bytes()).hexdigest()
    assert result["checksum"] == line.split()[0]
    assert ok(run_module("hangar_archive", dict(path=str(archive), checksum_file=True)))["changed"] is False
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    shutil.copy(archive, elsewhere)
    shutil.copy(tmp_path / "images.zip.sha256", elsewhere)
    subprocess.run(["sha256sum", "-c", "images.zip.sha256"], cwd=str(elsewhere), check=True, capture_output=True)
