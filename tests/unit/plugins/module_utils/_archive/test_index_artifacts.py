"""Artifacts listed in an archive entry: round trip, blob accounting, validation, and what the
Hangar CLI's reader sees (only the keys it knows)."""

import json

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._archive.index import (
    ArchiveArtifact,
    ArchiveEntry,
    ArchiveIndex,
    ArchivePlatformImage,
)
from ansible_collections.airgap.hangar.plugins.module_utils._errors import ArchiveError

D = ["sha256:" + ("%x" % n) * 64 for n in range(1, 10)]
HANGAR_ENTRY_KEYS = {"source", "tag", "archList", "osList", "images"}  # what pkg/hangar/archive/index.go decodes


def entry_with_artifacts():
    image = ArchivePlatformImage(arch="amd64", os="linux", media_type="application/vnd.oci.image.manifest.v1+json",
                                 layers=[D[0]], config=D[1], digest=D[2])
    artifacts = [ArchiveArtifact(subject=D[2], digest=D[3], media_type="application/vnd.oci.image.manifest.v1+json",
                                 tag="sha256-%s.sig" % D[2][7:], blobs=(D[4], D[5])),
                 ArchiveArtifact(subject=D[2], digest=D[6], media_type="application/vnd.oci.image.manifest.v1+json",
                                 artifact_type="application/spdx+json", blobs=(D[7],),
                                 annotations=(("org.example", "x"),))]
    return ArchiveEntry(source="r.io/p/app", tag="1", images=[image], index_digest=D[2],
                        index_media_type="application/vnd.oci.image.manifest.v1+json", artifacts=artifacts)


def test_round_trip_and_blob_accounting():
    index = ArchiveIndex([entry_with_artifacts()])
    again = ArchiveIndex.from_json(index.to_json())
    assert again.entries[0] == index.entries[0]
    assert {D[3], D[4], D[5], D[6], D[7]} <= again.all_blob_digests()
    assert again.manifest_digests() == {D[2]}  # artifacts get no folder
    doc = json.loads(index.to_json())["list"][0]
    assert doc["artifacts"][0] == {"subject": D[2], "tag": "sha256-%s.sig" % D[2][7:],
                                   "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D[3],
                                   "blobs": [D[4], D[5]]}
    assert doc["artifacts"][1]["annotations"] == {"org.example": "x"} and "tag" not in doc["artifacts"][1]
    assert set(doc) >= HANGAR_ENTRY_KEYS and set(doc) - HANGAR_ENTRY_KEYS == {"indexDigest", "indexMediaType",
                                                                              "artifacts"}


def test_no_artifacts_key_when_there_are_none():
    entry = entry_with_artifacts()
    entry.artifacts = []
    assert "artifacts" not in ArchiveIndex([entry]).to_dict()["list"][0]


@pytest.mark.parametrize("artifacts, message", [
    pytest.param({}, "artifacts must be a list", id="not-list"),
    pytest.param([{"digest": D[3]}], "needs subject and digest", id="no-subject"),
    pytest.param([{"subject": D[2], "digest": "sha256:12"}], "digest", id="bad-digest"),
])
def test_bad_artifact_lists_are_refused(artifacts, message):
    doc = json.loads(ArchiveIndex([entry_with_artifacts()]).to_json())
    doc["list"][0]["artifacts"] = artifacts
    with pytest.raises(ArchiveError, match=message):
        ArchiveIndex.from_json(json.dumps(doc))
