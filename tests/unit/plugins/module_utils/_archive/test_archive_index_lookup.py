"""ArchiveIndex keyed by source:tag: put/find/remove and the digest lookups stay right through replacements."""

from ansible_collections.airgap.hangar.plugins.module_utils._archive.index import (
    ArchiveEntry,
    ArchiveIndex,
    ArchivePlatformImage,
)


def digest(char):
    return "sha256:" + char * 64


def entry(source, tag, manifest, layers, index=None):
    image = ArchivePlatformImage(arch="amd64", os="linux", media_type="application/vnd.oci.image.manifest.v1+json",
                                 layers=[digest(layer) for layer in layers], config=digest("c"),
                                 digest=digest(manifest))
    return ArchiveEntry(source, tag, [image], index_digest=digest(index) if index else None)


def test_put_find_replace_remove_keep_order_and_counts():
    index = ArchiveIndex()
    assert index.put(entry("r/a", "1", "1", "ab"))
    assert index.put(entry("r/b", "1", "2", "bd", index="9"))
    assert not index.put(entry("r/a", "1", "1", "ab"))
    assert index.has_manifest(digest("1")) and index.image(digest("2")).layers == [digest("b"), digest("d")]
    assert index.all_blob_digests() == {digest(c) for c in "12abcd9"}
    # Replacing keeps the position and drops what only the old entry named.
    assert index.put(entry("r/a", "1", "3", "e"))
    assert [e.source for e in index.entries] == ["r/a", "r/b"]
    assert not index.has_manifest(digest("1")) and index.image(digest("1")) is None
    assert index.all_blob_digests() == {digest(c) for c in "23bcde9"}
    # A blob two entries share stays until neither names it.
    assert index.put(entry("r/c", "2", "4", "b"))
    assert index.remove("r/b", "1")
    assert digest("b") in index.all_blob_digests() and digest("d") not in index.all_blob_digests()
    assert not index.remove("r/b", "1")
    assert index.find("r/c", "2").manifest_digests == [digest("4")]
    assert len(index) == 2 and index.manifest_digests() == {digest("3"), digest("4")}


def test_parsed_index_has_the_same_lookups_and_the_last_duplicate_wins():
    built = ArchiveIndex([entry("r/a", "1", "1", "ab"), entry("r/b", "1", "2", "bd", index="9")])
    data = built.to_json()
    doubled = data.replace(b'"list":[', b'"list":[' + ArchiveIndex([entry("r/b", "1", "5", "f")]).to_json()
                           .split(b'"list":[')[1].split(b'],"version"')[0] + b",")
    parsed = ArchiveIndex.from_json(doubled)
    assert [e.source for e in parsed.entries] == ["r/b", "r/a"]
    assert parsed.find("r/b", "1").manifest_digests == [digest("2")]
    assert parsed.images_by_digest().keys() == {digest("1"), digest("2")}
    assert ArchiveIndex.from_json(data).to_json() == data
