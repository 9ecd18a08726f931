"""Host and port validation, credentials in references, trailing newlines, JSON nesting (issue 11)."""

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import HangarError, InputError
from ansible_collections.airgap.hangar.plugins.module_utils._harbor.client import validate_project_name
from ansible_collections.airgap.hangar.plugins.module_utils._image.digest import validate_digest
from ansible_collections.airgap.hangar.plugins.module_utils._image.manifest import Manifest
from ansible_collections.airgap.hangar.plugins.module_utils._image.media_types import (
    MAX_JSON_DEPTH,
    json_depth_exceeds,
    loads_bounded,
)
from ansible_collections.airgap.hangar.plugins.module_utils._image.reference import (
    ImageReference,
    embedded_password,
    mask_credentials,
    normalize_registry,
)


@pytest.mark.parametrize("text, expected", [
    ("host:0016000", "host:16000"), ("host:16000", "host:16000"), ("host:1", "host:1"),
    ("host:65535", "host:65535"), ("[::1]:05000", "[::1]:5000"), ("[::1]", "[::1]"),
    ("https://Index.Docker.io/", "docker.io"),
])
def test_ports_are_normalised(text, expected):
    assert normalize_registry(text) == expected


@pytest.mark.parametrize("text, port", [("host:0", "0"), ("host:65536", "65536"), ("host:00000", "00000"),
                                        ("host:999999", "999999")])
def test_ports_outside_the_range_are_an_input_error_naming_the_value(text, port):
    with pytest.raises(InputError) as caught:
        normalize_registry(text)
    assert "port %s is not from 1 to 65535" % port in str(caught.value) and text in str(caught.value)


def test_a_reference_with_a_bad_port_names_it():
    with pytest.raises(InputError, match="port 70000"):
        ImageReference.parse("host:70000/team/app:1")
    assert ImageReference.parse("host:0016000/team/app:1") == ImageReference.parse("host:16000/team/app:1")


@pytest.mark.parametrize("text", ["u:pa55@host:5000/team/app:1", "https://u:pa55@host/team/app",
                                  "u:pa55@host", "http://u:pa55@host:5000"])
def test_credentials_in_references_and_registries_are_refused_masked(text):
    for parse in (ImageReference.parse, normalize_registry):
        with pytest.raises(InputError) as caught:
            parse(text)
        assert "pa55" not in str(caught.value) and "u:***@" in str(caught.value)
    assert embedded_password(text) == "pa55"
    assert "pa55" not in mask_credentials(text)


@pytest.mark.parametrize("text", ["nginx@sha256:" + "a" * 64, "nginx:1.25@sha256:" + "b" * 64,
                                  "host:5000/a/b@sha256:" + "c" * 64])
def test_digests_are_not_mistaken_for_credentials(text):
    assert embedded_password(text) is None
    ImageReference.parse(text)


@pytest.mark.parametrize("name", ["team\n", "team\r\n", "\nteam", "te\nam"])
def test_project_names_with_newlines_are_refused(name):
    with pytest.raises(InputError):
        validate_project_name(name)


def test_digests_and_tags_with_a_trailing_newline_are_refused():
    with pytest.raises(HangarError):
        validate_digest("sha256:" + "a" * 64 + "\n")
    with pytest.raises(InputError):
        ImageReference("docker.io", "library/nginx").with_project("team\n")


def test_json_nesting_is_capped():
    assert not json_depth_exceeds(b'{"a": [1, {"b": "[[[[[[[[[[[[[[[[[["}]}')
    assert json_depth_exceeds(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert not json_depth_exceeds(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    with pytest.raises(HangarError, match="nested deeper than 64"):
        loads_bounded(b"[" * 100000 + b"]" * 100000, "the config")
    with pytest.raises(HangarError, match="nested deeper than 64"):
        Manifest.from_bytes(b'{"schemaVersion": 2, "config": ' + b"[" * 5000 + b"]" * 5000 + b"}")
