"""hangar_validate agrees with what the copy did (issue 12): a converted schema 1 image validates as its
conversion; a missing target says so; the shared options and the mode rules of the argument spec."""

from tests.support.module_runner import run_module


def test_mirrored_schema1_image_validates_as_its_conversion(registry, registry_factory, client_for, image_factory,
                                                            unique_repo):
    destination = registry_factory()
    repository = unique_repo("s1")
    image_factory.schema1_image(name=repository, tag="1.0").push(client_for(registry), repository, "1.0")
    args = dict(images=["%s/%s:1.0" % (registry.host, repository)], registry=destination.host, tls_verify=False,
                source_tls_verify=False)

    mirrored = run_module("hangar_mirror", args)
    assert mirrored["stats"]["copied"] == 1, mirrored
    converted = mirrored["images"][0]["digest"]

    validated = run_module("hangar_validate", args)

    assert not validated.get("failed") and validated["stats"]["passed"] == 1, validated
    assert [p["digest"] for p in validated["images"][0]["platforms"]] == [converted]


def test_missing_targets_are_reported_as_missing_targets(registry, registry_factory, client_for, image_factory,
                                                         unique_repo, tmp_path):
    destination = registry_factory()
    repository = unique_repo("tgt")
    image_factory.docker_image().push(client_for(registry), repository, "1.0")
    reference = "%s/%s:1.0" % (registry.host, repository)

    mirror = run_module("hangar_validate", dict(images=[reference], registry=destination.host, tls_verify=False,
                                                source_tls_verify=False, fail_on_mismatch=False))
    reason = mirror["images"][0]["reason"]
    assert reason.startswith("tag missing") and "target" in reason and "source" not in reason, reason

    archive = str(tmp_path / "never-saved.zip")
    save = run_module("hangar_validate", dict(images=[reference], archive=archive, source_tls_verify=False,
                                              fail_on_mismatch=False))
    assert save["images"][0]["reason"] == "target missing: archive %s does not exist" % archive, save

    gone = run_module("hangar_validate", dict(images=["%s/%s:1.0" % (registry.host, unique_repo("gone"))],
                                              registry=destination.host, tls_verify=False, source_tls_verify=False,
                                              fail_on_mismatch=False))
    assert gone["images"][0]["reason"].startswith("source missing"), gone


def test_validate_mode_rules_and_shared_options(tmp_path):
    nothing = run_module("hangar_validate", {})
    assert nothing["failed"] and "one of the following is required: archive, images, file" in nothing["msg"]

    both = run_module("hangar_validate", dict(archive=str(tmp_path / "a.zip"), registry="127.0.0.1:1",
                                              source_project="x"))
    assert both["failed"] and "mutually exclusive: archive|source_project" in both["msg"], both

    bad_timeout = run_module("hangar_validate", dict(images=["127.0.0.1:1/a/b:1"], registry="127.0.0.1:1",
                                                     timeout="soon"))
    assert bad_timeout["failed"] and "invalid timeout 'soon'" in bad_timeout["msg"], bad_timeout
