"""What a copy chooses (filter or digest pin) and the diff made from before/after records (issue 12)."""

from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.run_report import run_diff
from ansible_collections.airgap.hangar.plugins.module_utils._copy.engine import choose_platforms
from ansible_collections.airgap.hangar.plugins.module_utils._copy.model import (
    COPIED,
    UNCHANGED,
    CopyOptions,
    DestinationState,
    ImageResult,
)
from ansible_collections.airgap.hangar.plugins.module_utils._image.platform import PlatformFilter
from ansible_collections.airgap.hangar.plugins.module_utils._image.reference import ImageReference

DIGEST = "sha256:" + "1" * 64


class Top:
    is_schema1 = False
    is_index = True
    digest = DIGEST


def descriptor(n, platform):
    os_name, arch = platform.split("/")[:2]
    return {"digest": "sha256:%064d" % n, "platform": {"os": os_name, "architecture": arch}}


DESCRIPTORS = [descriptor(2, "linux/amd64"), descriptor(3, "linux/arm"), descriptor(4, "windows/amd64")]
OPTIONS = CopyOptions(platforms=PlatformFilter(["amd64"], ["linux"]))


def test_filter_chooses_for_a_tag():
    selected, pinned, dropped = choose_platforms(ImageReference.parse("reg.io/a/b:1"), Top(), DESCRIPTORS, OPTIONS)
    assert [d["digest"] for d in selected] == [DESCRIPTORS[0]["digest"]]
    assert not pinned and dropped == []


def test_a_pin_takes_everything_and_names_what_the_filter_drops():
    selected, pinned, dropped = choose_platforms(ImageReference.parse("reg.io/a/b@" + DIGEST), Top(), DESCRIPTORS,
                                                 OPTIONS)
    assert selected == DESCRIPTORS and pinned
    assert dropped == DESCRIPTORS[1:]


def test_a_pin_of_another_digest_is_not_a_pin():
    ref = ImageReference.parse("reg.io/a/b@sha256:" + "9" * 64)
    assert choose_platforms(ref, Top(), DESCRIPTORS, OPTIONS)[1] is False


def test_diff_lists_changed_destinations_only():
    changed = ImageResult(ImageReference.parse("reg.io/a/b:1"), "dst/a/b:1",
                          dest_ref=ImageReference.parse("dst.io/a/b:1"), status=COPIED,
                          before=DestinationState(), after=DestinationState.of(DIGEST, DESCRIPTORS[:1]))
    same = ImageResult(ImageReference.parse("reg.io/a/c:1"), "dst/a/c:1",
                       dest_ref=ImageReference.parse("dst.io/a/c:1"), status=UNCHANGED,
                       before=DestinationState.of(DIGEST, DESCRIPTORS[:1]),
                       after=DestinationState.of(DIGEST, DESCRIPTORS[:1]))
    assert run_diff([changed, same]) == {
        "before": {"dst.io/a/b:1": {"digest": None, "platforms": []}},
        "after": {"dst.io/a/b:1": {"digest": DIGEST, "platforms": ["linux/amd64"]}},
    }
