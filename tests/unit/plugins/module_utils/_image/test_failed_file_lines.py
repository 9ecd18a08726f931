"""The failed_file line of a {source, dest} mapping without a tag reads back as a list line (issue 12)."""

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._image.image_list import parse_image_items, parse_line


@pytest.mark.parametrize("item, line", [
    ({"source": "nginx", "dest": "reg.io/web/nginx"}, "docker.io/library/nginx reg.io/web/nginx latest"),
    ({"source": "quay.io/a/b:v1", "dest": "reg.io:5000/x/b:v1"}, "quay.io/a/b reg.io:5000/x/b v1"),
])
def test_tagless_mapping_is_written_as_a_three_field_line(item, line):
    entry = parse_image_items([item], allow_mirror=True)[0]
    assert entry.line == line
    again = parse_line(entry.line, "failed_file line 1", allow_mirror=True)
    assert (again.source, again.dest) == (entry.source, entry.dest)


@pytest.mark.parametrize("item", [
    {"source": "nginx:1.25", "dest": "reg.io/web/nginx:stable"},
    {"source": "nginx@sha256:" + "a" * 64, "dest": "reg.io/web/nginx"},
])
def test_mapping_no_line_can_say_is_a_comment_naming_it(item):
    entry = parse_image_items([item], allow_mirror=True)[0]
    assert entry.line.startswith("# images[0] ") and item["source"] in entry.line
    assert parse_line(entry.line, "failed_file line 1", allow_mirror=True) is None
