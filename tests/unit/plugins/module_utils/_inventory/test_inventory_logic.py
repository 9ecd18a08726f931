"""The pure parts of the inventory package: cosign tag names, platform specs, inspection targets."""

import re

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import InputError
from ansible_collections.airgap.hangar.plugins.module_utils._image.artifact_tags import attachment_tag, is_artifact_tag
from ansible_collections.airgap.hangar.plugins.module_utils._image.platform import Platform
from ansible_collections.airgap.hangar.plugins.module_utils._inventory.artifacts import artifacts_in_tags
from ansible_collections.airgap.hangar.plugins.module_utils._inventory.deletion import (
    ImageChange,
    ImageState,
    parse_platform_specs,
)
from ansible_collections.airgap.hangar.plugins.module_utils._inventory.inspection import plan_inspection

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


@pytest.mark.parametrize("suffix, tag", [
    (".sig", "sha256-%s.sig" % ("a" * 64)), (".att", "sha256-%s.att" % ("a" * 64)),
    (".sbom", "sha256-%s.sbom" % ("a" * 64)), ("", "sha256-%s" % ("a" * 64)),
])
def test_artifact_tags(suffix, tag):
    assert attachment_tag(A, suffix) == tag
    assert is_artifact_tag(tag)


@pytest.mark.parametrize("tag", ["1.0", "latest", "sha256-abc.sig", "sha256-%s.txt" % ("a" * 64), "sha256_" + "a" * 64])
def test_release_tags_are_not_artifact_tags(tag):
    assert not is_artifact_tag(tag)


def test_artifacts_in_tags_follow_subjects_then_kinds():
    tags = ["1.0", attachment_tag(B, ".sig"), attachment_tag(A, ".att"), attachment_tag(A, ".sig"),
            attachment_tag(A, "")]
    assert artifacts_in_tags(tags, [A, B]) == [
        {"kind": "signature", "tag": attachment_tag(A, ".sig"), "subject": A},
        {"kind": "attestation", "tag": attachment_tag(A, ".att"), "subject": A},
        {"kind": "referrers", "tag": attachment_tag(A, ""), "subject": A},
        {"kind": "signature", "tag": attachment_tag(B, ".sig"), "subject": B},
    ]
    assert artifacts_in_tags(["1.0"], [A]) == []


@pytest.mark.parametrize("spec, platform, allowed", [
    ("linux/arm64", Platform("linux", "arm64"), True),
    ("linux/arm64", Platform("linux", "arm64", "v8"), True),
    ("linux/arm64/v8", Platform("linux", "arm64"), True),
    ("linux/arm", Platform("linux", "arm", "v7"), True),
    ("linux/arm/v6", Platform("linux", "arm", "v7"), False),
    ("linux/amd64", Platform("windows", "amd64", os_version="10.0.17763.1"), False),
    ("windows/amd64", Platform("windows", "amd64", os_version="10.0.17763.1"), True),
])
def test_platform_specs_match_as_the_platform_filter_does(spec, platform, allowed):
    ((text, matcher),) = parse_platform_specs([spec])
    assert text == spec
    assert matcher.allows(platform) is allowed


@pytest.mark.parametrize("spec", ["arm64", "linux/", "/arm64", "linux/arm/v7/x", "Linux/AMD64", "", 7])
def test_bad_platform_specs_are_named(spec):
    with pytest.raises(InputError, match=re.escape("invalid platform %r: expected os/arch" % (spec,))):
        parse_platform_specs([spec])


def test_plan_inspection_applies_overrides_and_list_tags():
    targets = plan_inspection(["team/app", "team/app:1.0", "team/app@" + A, "nginx"], registry="127.0.0.1:5000",
                              project="mirror", list_tags=True)
    assert [str(t.ref) for t in targets] == [
        "127.0.0.1:5000/mirror/app", "127.0.0.1:5000/mirror/app:1.0", "127.0.0.1:5000/mirror/app@" + A,
        "127.0.0.1:5000/mirror/nginx"]
    assert [t.whole_repository for t in targets] == [True, False, False, True]
    plain = plan_inspection(["127.0.0.1:5000/team/app"])
    assert plain[0].ref.tag == "latest" and not plain[0].whole_repository
    with pytest.raises(InputError, match="no references given"):
        plan_inspection([])


def test_image_change_is_changed_only_when_before_and_after_differ():
    present = ImageState(True, A, "application/vnd.oci.image.index.v1+json", (("linux/amd64", B),))
    same = ImageChange("r/a:1", present, present)
    assert not same.changed and same.diff()["before"] == same.diff()["after"]
    gone = ImageChange("r/a:1", present, ImageState(False), deleted=A)
    assert gone.changed
    assert gone.diff()["after"] == "r/a:1: absent\n"
    assert "    - linux/amd64 %s" % B in gone.diff()["before"]
    assert gone.as_dict()["before"]["platforms"] == [{"platform": "linux/amd64", "digest": B}]
