"""checksum_file on hangar_save, verify_checksum on hangar_load: the carried archive proved intact first."""

import hashlib
import subprocess

from tests.support.image_sets import ALL_PLATFORMS, push_small_set, references
from tests.support.module_runner import run_module


def test_save_writes_a_sha256sum_file_and_load_checks_it_before_pushing(
        registry_factory, client_for, image_factory, tmp_path):
    source = registry_factory()
    images = push_small_set(client_for(source), image_factory)
    archive = tmp_path / "images.zip"
    sidecar = tmp_path / "images.zip.sha256"
    args = dict(images=references(source.host, sorted(images)[:2]), archive=str(archive), tls_verify=False,
                checksum_file=True, **ALL_PLATFORMS)

    checked = run_module("hangar_save", args, check_mode=True)
    assert checked["changed"] is True and not archive.exists() and not sidecar.exists()
    saved = run_module("hangar_save", args)
    assert saved.get("failed") is not True, saved["msg"]
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert sidecar.read_text() == "%s  images.zip\n" % digest and saved["checksum"] == digest
    subprocess.run(["sha256sum", "-c", sidecar.name], cwd=str(tmp_path), check=True, capture_output=True)
    rerun = run_module("hangar_save", args)
    assert rerun["changed"] is False and sidecar.read_text() == "%s  images.zip\n" % digest

    # More images: the archive is updated in place and the checksum file follows it.
    more = run_module("hangar_save", dict(args, images=references(source.host, sorted(images))))
    assert more["changed"] is True
    assert sidecar.read_text() == "%s  images.zip\n" % hashlib.sha256(archive.read_bytes()).hexdigest()

    destination = registry_factory(count_requests=True)
    load_args = dict(archive=str(archive), registry=destination.host, tls_verify=False, verify_checksum=True,
                     **ALL_PLATFORMS)
    loaded = run_module("hangar_load", load_args)
    assert loaded.get("failed") is not True, loaded["msg"]
    assert loaded["stats"]["copied"] == len(images)

    # A damaged copy fails before anything is sent.
    damaged_dir = tmp_path / "damaged"
    damaged_dir.mkdir()
    data = bytearray(archive.read_bytes())
    data[len(data) // 3] ^= 0x01
    (damaged_dir / "images.zip").write_bytes(bytes(data))
    (damaged_dir / "images.zip.sha256").write_text(sidecar.read_text())
    other = registry_factory(count_requests=True)
    failed = run_module("hangar_load", dict(load_args, archive=str(damaged_dir / "images.zip"),
                                            registry=other.host))
    assert failed.get("failed") is True
    assert "does not match" in failed["msg"] and "images.zip.sha256" in failed["msg"]
    assert other.count_requests("PUT", r"^/v2/") == 0

    missing = run_module("hangar_load", dict(load_args, archive=str(tmp_path / "nosidecar.zip")))
    assert missing.get("failed") is True and "nosidecar.zip.sha256" in missing["msg"]
