"""Image lists: list files and inline `images` (BEHAVIOUR.md, "Image references and lists")."""

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import InputError
from ansible_collections.airgap.hangar.plugins.module_utils._image.image_list import (
    DEFAULT_FORMAT,
    MIRROR_FORMAT,
    collect_entries,
    parse_image_items,
    read_image_list,
)


def write_list(tmp_path, text, name="images.txt", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def summary(entries):
    """(source, dest, line, origin suffix, format) of each entry, as strings."""
    return [(str(e.source), str(e.dest) if e.dest else None, e.line, e.origin.rsplit(" ", 2)[-2:], e.format)
            for e in entries]


@pytest.mark.parametrize("text, allow_mirror, expected", [
    pytest.param("nginx\nreg.io/proj/app:1\n", False, [
        ("docker.io/library/nginx:latest", None, "nginx", ["line", "1"], DEFAULT_FORMAT),
        ("reg.io/proj/app:1", None, "reg.io/proj/app:1", ["line", "2"], DEFAULT_FORMAT),
    ], id="default-format"),
    pytest.param("# a comment\n\n// another comment\n   \n  # indented comment\nnginx:1.25\n", False, [
        ("docker.io/library/nginx:1.25", None, "nginx:1.25", ["line", "6"], DEFAULT_FORMAT),
    ], id="comments-and-blank-lines"),
    pytest.param("\tnginx:1.25  \r\nbusybox\r\n", False, [
        ("docker.io/library/nginx:1.25", None, "nginx:1.25", ["line", "1"], DEFAULT_FORMAT),
        ("docker.io/library/busybox:latest", None, "busybox", ["line", "2"], DEFAULT_FORMAT),
    ], id="blanks-tabs-and-crlf"),
    pytest.param("nginx reg.io/mirror/nginx 1.25\n", True, [
        ("docker.io/library/nginx:1.25", "reg.io/mirror/nginx:1.25", "nginx reg.io/mirror/nginx 1.25",
         ["line", "1"], MIRROR_FORMAT),
    ], id="mirror-format"),
    pytest.param("quay.io/a/b\treg.io:5000/p/b \t v1\n", True, [
        ("quay.io/a/b:v1", "reg.io:5000/p/b:v1", "quay.io/a/b\treg.io:5000/p/b \t v1", ["line", "1"], MIRROR_FORMAT),
    ], id="mirror-format-tabs"),
    pytest.param("nginx:1\n# c\nbusybox reg.io/busybox 1.36\n", True, [
        ("docker.io/library/nginx:1", None, "nginx:1", ["line", "1"], DEFAULT_FORMAT),
        ("docker.io/library/busybox:1.36", "reg.io/busybox:1.36", "busybox reg.io/busybox 1.36", ["line", "3"],
         MIRROR_FORMAT),
    ], id="both-formats-in-a-mirror-list"),
    pytest.param("nginx@sha256:" + "ab" * 32 + "\n", False, [
        ("docker.io/library/nginx@sha256:" + "ab" * 32, None, "nginx@sha256:" + "ab" * 32, ["line", "1"],
         DEFAULT_FORMAT),
    ], id="digest-reference"),
    pytest.param("", False, [], id="empty-file"),
])
def test_read_image_list(tmp_path, text, allow_mirror, expected):
    assert summary(read_image_list(write_list(tmp_path, text), allow_mirror)) == expected


def test_read_image_list_origin_names_the_file(tmp_path):
    path = write_list(tmp_path, "\nnginx\n")
    assert read_image_list(path)[0].origin == "image list %s line 2" % path


def test_read_image_list_with_byte_order_mark(tmp_path):
    path = write_list(tmp_path, "nginx\n", encoding="utf-8-sig")
    assert str(read_image_list(path)[0].source) == "docker.io/library/nginx:latest"


@pytest.mark.parametrize("text, allow_mirror, number, line, expected", [
    pytest.param("nginx\nnginx reg.io/nginx 1\n", False, 2, "nginx reg.io/nginx 1", "expected one image reference",
                 id="mirror-line-where-not-allowed"),
    pytest.param("# c\nnginx reg.io/nginx\n", True, 2, "nginx reg.io/nginx",
                 "expected one image reference, or SOURCE DEST TAG", id="two-fields"),
    pytest.param("a b c d\n", True, 1, "a b c d", "expected one image reference, or SOURCE DEST TAG",
                 id="four-fields"),
    pytest.param("nginx\n\nNginx\n", False, 3, "Nginx", "invalid image reference 'Nginx'", id="bad-reference"),
    pytest.param("nginx reg.io/X 1\n", True, 1, "nginx reg.io/X 1", "invalid image reference", id="bad-mirror-dest"),
    pytest.param("nginx reg.io/x bad+tag\n", True, 1, "nginx reg.io/x bad+tag", "invalid image reference",
                 id="bad-mirror-tag"),
])
def test_read_image_list_errors_name_file_line_number_and_line(tmp_path, text, allow_mirror, number, line, expected):
    path = write_list(tmp_path, text)
    with pytest.raises(InputError) as error:
        read_image_list(path, allow_mirror)
    message = str(error.value)
    assert message.startswith("Error reading image list %s line %d %r: " % (path, number, line))
    assert expected in message


def test_read_image_list_missing_file(tmp_path):
    path = str(tmp_path / "missing.txt")
    with pytest.raises(InputError) as error:
        read_image_list(path)
    assert str(error.value).startswith("Error reading image list %s: " % path)
    assert "No such file" in str(error.value)


@pytest.mark.parametrize("items, allow_mirror, expected", [
    pytest.param(["nginx", "reg.io/app:2"], False, [
        ("docker.io/library/nginx:latest", None, "nginx", "images[0]", DEFAULT_FORMAT),
        ("reg.io/app:2", None, "reg.io/app:2", "images[1]", DEFAULT_FORMAT),
    ], id="references"),
    pytest.param(["# skipped", "", "nginx"], False, [
        ("docker.io/library/nginx:latest", None, "nginx", "images[2]", DEFAULT_FORMAT),
    ], id="comments-and-blanks-skipped"),
    pytest.param(["nginx reg.io/nginx 1.25"], True, [
        ("docker.io/library/nginx:1.25", "reg.io/nginx:1.25", "nginx reg.io/nginx 1.25", "images[0]", MIRROR_FORMAT),
    ], id="mirror-string"),
    pytest.param([{"source": "nginx", "dest": "reg.io/nginx", "tag": "1.25"}], True, [
        ("docker.io/library/nginx:1.25", "reg.io/nginx:1.25", "nginx reg.io/nginx 1.25", "images[0]", MIRROR_FORMAT),
    ], id="mapping-with-tag"),
    pytest.param([{"source": "nginx:1.25", "dest": "reg.io/web/nginx:stable"}], True, [
        ("docker.io/library/nginx:1.25", "reg.io/web/nginx:stable",
         "# images[0] {source: nginx:1.25, dest: reg.io/web/nginx:stable}: no list line can say this (one tag for "
         "both sides); give it as a mapping", "images[0]", MIRROR_FORMAT),
    ], id="mapping-without-tag"),
    pytest.param(None, False, [], id="none"),
])
def test_parse_image_items(items, allow_mirror, expected):
    entries = parse_image_items(items, allow_mirror)
    assert [(str(e.source), str(e.dest) if e.dest else None, e.line, e.origin, e.format) for e in entries] == expected


@pytest.mark.parametrize("items, allow_mirror, expected", [
    pytest.param([{"source": "nginx", "dest": "reg.io/nginx"}], False, "images[0] {", id="mapping-not-allowed"),
    pytest.param(["nginx reg.io/nginx 1"], False, "images[0] 'nginx reg.io/nginx 1': expected one image reference",
                 id="mirror-string-not-allowed"),
    pytest.param([{"source": "nginx"}], True, "keys source, dest and optional tag", id="mapping-without-dest"),
    pytest.param([{"source": "nginx", "dest": "reg.io/nginx", "platform": "x"}], True,
                 "keys source, dest and optional tag", id="mapping-unknown-key"),
    pytest.param([{"source": "Nginx", "dest": "reg.io/nginx"}], True, "invalid image reference 'Nginx'",
                 id="mapping-bad-source"),
    pytest.param(["nginx", 42], False, "images[1] 42: expected an image reference string", id="not-a-string"),
    pytest.param(["UPPER"], False, "images[0] 'UPPER': invalid image reference", id="bad-reference"),
])
def test_parse_image_items_errors(items, allow_mirror, expected):
    with pytest.raises(InputError) as error:
        parse_image_items(items, allow_mirror)
    assert str(error.value).startswith("Error reading images[")
    assert expected in str(error.value)


def test_collect_entries_file_then_images_without_duplicates(tmp_path):
    path = write_list(tmp_path, "nginx\nbusybox\n")
    entries = collect_entries(images=["docker.io/library/nginx:latest", "alpine"], file=path)
    assert [str(e.source) for e in entries] == [
        "docker.io/library/nginx:latest", "docker.io/library/busybox:latest", "docker.io/library/alpine:latest"]
    assert entries[0].origin == "image list %s line 1" % path


def test_collect_entries_same_source_to_two_destinations_kept(tmp_path):
    entries = collect_entries(images=["nginx reg.io/a/nginx 1", "nginx reg.io/b/nginx 1"], allow_mirror=True)
    assert [str(e.dest) for e in entries] == ["reg.io/a/nginx:1", "reg.io/b/nginx:1"]


def test_collect_entries_nothing():
    assert collect_entries() == []
