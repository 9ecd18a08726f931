"""Checks that a Hangar archive is what ARCHIVE.md says, for archives made by the library or the modules.

    index = check_archive_layout(path)       # entries, STORE, folders, blobs, then the index schema
    doc = check_index_json(data)             # keys, types, compactness, omitted empties
    entry = store_image(writer, source, tag, image)   # fill an ArchiveWriter with an ImageFactory image

Both raise AssertionError with a message naming the first thing wrong, and return the parsed
index document. `strict=False` accepts what the Hangar CLI itself writes or leaves after an
update: directory entries and other names the format ignores, blobs no entry references.
"""

import hashlib
import io
import json
import re
import struct
import zipfile

from ansible_collections.airgap.hangar.plugins.module_utils._archive.index import ArchiveEntry, ArchivePlatformImage
from ansible_collections.airgap.hangar.plugins.module_utils._image.platform import Platform

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
BLOB_NAME_RE = re.compile(r"^share/sha256/([0-9a-f]{64})$")
FOLDER_NAME_RE = re.compile(r"^([0-9a-f]{64})/(index\.json|oci-layout)$")
# The Hangar CLI's loader finds a platform folder by its `<hex>/` directory entry, so ours write one.
DIRECTORY_NAME_RE = re.compile(r"^([0-9a-f]{64})/$")
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
ATTESTATION = ("vnd.docker.reference.type", "attestation-manifest")

INDEX_KEYS = {"list", "version", "time"}
ENTRY_KEYS = {"source", "tag", "archList", "osList", "images", "indexDigest", "indexMediaType", "artifacts"}
ARTIFACT_KEYS = {"subject", "tag", "mediaType", "digest", "artifactType", "blobs", "annotations"}
IMAGE_KEYS = {"arch", "os", "variant", "osVersion", "osFeatures", "mediaType", "layers", "config", "digest",
              "annotations"}


def assert_compact_json(data):
    """No whitespace outside strings, as Go's json.Marshal writes."""
    text = data.decode("utf-8")
    in_string = escaped = False
    for position, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        else:
            assert not char.isspace(), "JSON is not compact: whitespace at offset %d" % position


def _non_empty_string(value, where):
    assert isinstance(value, str) and value, "%s must be a non-empty string, got %r" % (where, value)


def _digest(value, where):
    assert isinstance(value, str) and DIGEST_RE.match(value), "%s must be a sha256 digest, got %r" % (where, value)


def _distinct_list(value, where):
    assert isinstance(value, list) and value, "%s must be a non-empty list, got %r" % (where, value)
    for item in value:
        _non_empty_string(item, where)
    assert len(set(value)) == len(value), "%s has repeated values: %r" % (where, value)


def _check_image(image, where):
    assert isinstance(image, dict), "%s must be an object" % where
    assert set(image) <= IMAGE_KEYS, "%s has unknown keys %s" % (where, sorted(set(image) - IMAGE_KEYS))
    for key in ("arch", "os", "mediaType"):
        _non_empty_string(image.get(key), "%s.%s" % (where, key))
    for key in ("variant", "osVersion"):
        if key in image:
            _non_empty_string(image[key], "%s.%s" % (where, key))
    if "osFeatures" in image:
        _distinct_list(image["osFeatures"], where + ".osFeatures")
    assert isinstance(image.get("layers", []), list) and image.get("layers") != [], \
        "%s.layers must be a non-empty list when present" % where
    for layer in image.get("layers", []):
        _digest(layer, where + ".layers[]")
    if "config" in image:
        _digest(image["config"], where + ".config")
    _digest(image.get("digest"), where + ".digest")
    annotations = image.get("annotations", {})
    if "annotations" in image:
        assert isinstance(annotations, dict) and annotations, "%s.annotations must be a non-empty map" % where
    for key, value in annotations.items():
        _non_empty_string(key, where + ".annotations key")
        assert isinstance(value, str), "%s.annotations[%s] must be a string" % (where, key)
    if annotations.get(ATTESTATION[0]) == ATTESTATION[1]:
        assert (image["arch"], image["os"]) == ("unknown", "unknown"), "%s: an attestation is unknown/unknown" % where
        _digest(annotations.get("vnd.docker.reference.digest"), where + ".annotations[vnd.docker.reference.digest]")


def _check_entry(entry, where):
    assert isinstance(entry, dict), "%s must be an object" % where
    assert set(entry) <= ENTRY_KEYS, "%s has unknown keys %s" % (where, sorted(set(entry) - ENTRY_KEYS))
    _non_empty_string(entry.get("source"), where + ".source")
    if "tag" in entry:
        _non_empty_string(entry["tag"], where + ".tag")
    else:
        assert "indexDigest" in entry, "%s has neither tag nor indexDigest" % where
    images = entry.get("images")
    assert isinstance(images, list) and images, "%s.images must be a non-empty list" % where
    for number, image in enumerate(images):
        _check_image(image, "%s.images[%d]" % (where, number))
    for key, field in (("archList", "arch"), ("osList", "os")):
        _distinct_list(entry.get(key), "%s.%s" % (where, key))
        assert set(entry[key]) == {image[field] for image in images}, \
            "%s.%s %r does not match its images" % (where, key, entry[key])
    for number, artifact in enumerate(entry.get("artifacts", [])):
        at = "%s.artifacts[%d]" % (where, number)
        assert isinstance(artifact, dict) and set(artifact) <= ARTIFACT_KEYS, "%s has unknown keys" % at
        _digest(artifact.get("subject"), at + ".subject")
        _digest(artifact.get("digest"), at + ".digest")
        _non_empty_string(artifact.get("mediaType"), at + ".mediaType")
        for blob in artifact.get("blobs", []):
            _digest(blob, at + ".blobs[]")
    if "indexDigest" in entry:
        _digest(entry["indexDigest"], where + ".indexDigest")
        _non_empty_string(entry.get("indexMediaType"), where + ".indexMediaType")
    else:
        assert "indexMediaType" not in entry, "%s has indexMediaType without indexDigest" % where


def check_index_json(data):
    """Check root index.json bytes against ARCHIVE.md; returns the document."""
    assert_compact_json(data)
    doc = json.loads(data)
    assert isinstance(doc, dict), "index.json must be an object"
    assert set(doc) <= INDEX_KEYS, "index.json has unknown keys %s" % sorted(set(doc) - INDEX_KEYS)
    _non_empty_string(doc.get("version"), "version")
    assert isinstance(doc.get("time"), str) and TIME_RE.match(doc["time"]), \
        "time must be RFC 3339 with an offset, got %r" % doc.get("time")
    if "list" in doc:
        assert isinstance(doc["list"], list) and doc["list"], "list must be a non-empty list when present"
        for number, entry in enumerate(doc["list"]):
            _check_entry(entry, "list[%d]" % number)
        keys = [(entry["source"], entry.get("tag") or "@" + entry["indexDigest"]) for entry in doc["list"]]
        assert len(set(keys)) == len(keys), "list has repeated source:tag entries"
    return doc


def _sha256_of_entry(archive, info):
    hasher = hashlib.sha256()
    with archive.open(info) as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def _check_folder(archive, names, digest, image, blob_sizes):
    hex_digest = digest[len("sha256:"):]
    assert hex_digest + "/index.json" in names and hex_digest + "/oci-layout" in names, \
        "the folder %s/ of a platform manifest is incomplete" % hex_digest
    assert archive.read(hex_digest + "/oci-layout") == OCI_LAYOUT, "%s/oci-layout is wrong" % hex_digest
    data = archive.read(hex_digest + "/index.json")
    assert_compact_json(data)
    layout = json.loads(data)
    expected = {"schemaVersion": 2, "manifests": [
        {"mediaType": image["mediaType"], "digest": digest, "size": blob_sizes[digest]}]}
    assert layout == expected, "%s/index.json is %r, expected %r" % (hex_digest, layout, expected)


def _check_manifest_matches(archive, image):
    """The images[] record says what the stored manifest says (config, layers but foreign ones)."""
    manifest = json.loads(archive.read("share/sha256/" + image["digest"][len("sha256:"):]))
    layers = [layer["digest"] for layer in manifest.get("layers", []) if not layer.get("urls")]
    assert image.get("layers", []) == layers, "layers of %s do not match its manifest" % image["digest"]
    assert image.get("config") == (manifest.get("config") or {}).get("digest"), \
        "config of %s does not match its manifest" % image["digest"]


def check_archive_layout(path, strict=True, index_last=True, folder_directories=True):
    """Check a whole archive: its entries, their method, the folders and blobs, then index.json.

    folder_directories: every platform folder has its `<hex>/` directory entry, as the Hangar CLI's
    loader needs and our writer writes (Hangar-written fixtures without them pass False)."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        assert len(set(names)) == len(names), "repeated entry names: %s" % sorted(
            {name for name in names if names.count(name) > 1})
        assert "index.json" in names, "no index.json"
        if index_last:
            assert max(infos, key=lambda info: info.header_offset).filename == "index.json", \
                "index.json is not the last entry"
        for info in infos:
            assert info.compress_type == zipfile.ZIP_STORED, "%s is not stored (STORE)" % info.filename
            if strict:
                assert not info.filename.endswith("/") or DIRECTORY_NAME_RE.match(info.filename), \
                    "directory entry %s is not a platform folder's" % info.filename
                assert info.filename == "index.json" or BLOB_NAME_RE.match(info.filename) \
                    or FOLDER_NAME_RE.match(info.filename) or DIRECTORY_NAME_RE.match(info.filename), \
                    "entry %r is not one the format defines" % info.filename
        doc = check_index_json(archive.read("index.json"))
        blob_sizes = {}
        for info in infos:
            match = BLOB_NAME_RE.match(info.filename)
            if match:
                digest = "sha256:" + match.group(1)
                assert _sha256_of_entry(archive, info) == digest, "%s does not match its digest" % info.filename
                blob_sizes[digest] = info.file_size
        needed_blobs, images = set(), {}
        for entry in doc.get("list", []):
            for image in entry["images"]:
                needed_blobs |= {image["digest"], *image.get("layers", [])}
                needed_blobs |= {image["config"]} if "config" in image else set()
                images[image["digest"]] = image
            if "indexDigest" in entry:
                needed_blobs.add(entry["indexDigest"])
            for artifact in entry.get("artifacts", []):
                needed_blobs |= {artifact["digest"], *artifact.get("blobs", [])}
        missing = needed_blobs - set(blob_sizes)
        assert not missing, "blobs named by index.json are missing: %s" % sorted(missing)
        for entry in doc.get("list", []):
            if "indexDigest" in entry:
                _check_top_manifest(archive, entry)
        for digest, image in images.items():
            _check_folder(archive, names, digest, image, blob_sizes)
            _check_manifest_matches(archive, image)
        if strict:
            unreferenced = set(blob_sizes) - needed_blobs
            assert not unreferenced, "blobs no entry references: %s" % sorted(unreferenced)
            folders = {FOLDER_NAME_RE.match(name).group(1) for name in names if FOLDER_NAME_RE.match(name)}
            directories = {DIRECTORY_NAME_RE.match(name).group(1) for name in names if DIRECTORY_NAME_RE.match(name)}
            assert directories == folders or not folder_directories and not directories, \
                "platform folders without their <hex>/ entry, or the reverse: %s" % sorted(directories ^ folders)
            extra_folders = folders - {digest[len("sha256:"):] for digest in images}
            assert not extra_folders, "folders of manifests no entry lists: %s" % sorted(extra_folders)
    return doc


def _check_top_manifest(archive, entry):
    """indexDigest is the top-level index naming the platform manifests, or the one manifest itself."""
    digests = [image["digest"] for image in entry["images"]]
    top = json.loads(archive.read("share/sha256/" + entry["indexDigest"][len("sha256:"):]))
    if "manifests" in top:
        children = {child["digest"] for child in top["manifests"]}
        assert set(digests) <= children, "images of %s are not in its indexDigest" % entry["source"]
    else:
        assert digests == [entry["indexDigest"]], "a single-manifest entry must list that manifest as indexDigest"


def entry_names(path):
    with zipfile.ZipFile(path) as archive:
        return sorted(info.filename for info in archive.infolist())


def store_image(writer, source, tag, image):
    """Store an ImageFactory image through an ArchiveWriter as the archive store does: blobs,
    platform manifests, the top-level manifest as indexDigest, then the entry (returned)."""
    for digest, data in sorted(image.blobs.items()):
        writer.add_blob(digest, len(data), io.BytesIO(data))
    top = image.top
    if top.is_index:
        by_digest = {manifest.digest: manifest for manifest in image.children}
        records = []
        for child in top.children:
            manifest = by_digest[child["digest"]]
            writer.add_manifest(manifest)
            records.append(ArchivePlatformImage.for_manifest(manifest, Platform.from_dict(child.get("platform")),
                                                             child.get("annotations")))
        writer.add_index_blob(top)
    else:
        writer.add_manifest(top)
        records = [ArchivePlatformImage.for_manifest(top, image.platforms[0])]
    entry = ArchiveEntry(source, tag, records, top.digest, top.media_type)
    writer.put_entry(entry)
    return entry


def raw_central_directory(path):
    """The central directory as stored, parsed with struct (test archives are small): a list of
    records {name, version_needed, flags, method, compressed_size, size, header_offset, extra_ids,
    local_version_needed, local_extra_ids}, and whether ZIP64 end records are present."""
    with open(path, "rb") as source:
        data = source.read()
    end = data.rfind(b"PK\x05\x06")
    count, _size, offset = struct.unpack("<10xHIIH", data[end:end + 22])[0:3]
    zip64 = end >= 20 and data[end - 20:end - 16] == b"PK\x06\x07"
    if zip64:
        end64 = struct.unpack("<8xQ4x", data[end - 20:end])[0]
        count, offset = struct.unpack("<32xQ8xQ", data[end64:end64 + 56])
    records = []
    position = offset
    for _unused in range(count):
        fields = struct.unpack("<IHHHHHHIIIHHHHHII", data[position:position + 46])
        assert fields[0] == 0x02014B50, "no central directory record at %d" % position
        name_length, extra_length, comment_length = fields[10:13]
        name = data[position + 46:position + 46 + name_length].decode("utf-8")
        extra = data[position + 46 + name_length:position + 46 + name_length + extra_length]
        record = {"name": name, "version_needed": fields[2], "flags": fields[3], "method": fields[4],
                  "compressed_size": fields[8], "size": fields[9], "header_offset": fields[16],
                  "extra_ids": _extra_ids(extra)}
        records.append(record)
        position += 46 + name_length + extra_length + comment_length
    for record in records:
        local = record["header_offset"]
        if local == 0xFFFFFFFF:
            continue  # the real offset is in the ZIP64 extra
        version, name_length, extra_length = struct.unpack("<4xH20xHH", data[local:local + 30])
        record["local_version_needed"] = version
        record["local_extra_ids"] = _extra_ids(data[local + 30 + name_length:local + 30 + name_length + extra_length])
    return records, zip64


def _extra_ids(extra):
    ids, position = [], 0
    while position + 4 <= len(extra):
        header_id, length = struct.unpack("<HH", extra[position:position + 4])
        ids.append(header_id)
        position += 4 + length
    return ids
