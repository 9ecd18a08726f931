"""Image references, normalised as Docker does (BEHAVIOUR.md, "Image references and lists")."""

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import InputError
from ansible_collections.airgap.hangar.plugins.module_utils._image.reference import ImageReference, normalize_registry

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, registry, repository, tag, digest", [
    pytest.param("nginx", "docker.io", "library/nginx", "latest", None, id="official-image"),
    pytest.param("nginx:1.25", "docker.io", "library/nginx", "1.25", None, id="official-image-tag"),
    pytest.param("bitnami/redis:7", "docker.io", "bitnami/redis", "7", None, id="hub-project"),
    pytest.param("docker.io/nginx", "docker.io", "library/nginx", "latest", None, id="docker-io-gets-library"),
    pytest.param("index.docker.io/library/nginx", "docker.io", "library/nginx", "latest", None, id="hub-alias"),
    pytest.param("registry-1.docker.io/nginx", "docker.io", "library/nginx", "latest", None, id="hub-api-host"),
    pytest.param("a/b/c", "docker.io", "a/b/c", "latest", None, id="a-b-c-is-docker-hub-not-registry-a"),
    pytest.param("quay.io/coreos/etcd:v3.5", "quay.io", "coreos/etcd", "v3.5", None, id="dotted-registry"),
    pytest.param("reg.io/proj/team/app:1", "reg.io", "proj/team/app", "1", None, id="several-slashes"),
    pytest.param("reg.io/app", "reg.io", "app", "latest", None, id="no-library-outside-hub"),
    pytest.param("reg.io:5000/proj/app", "reg.io:5000", "proj/app", "latest", None, id="port-no-tag"),
    pytest.param("reg.io:5000/proj/app:2.0", "reg.io:5000", "proj/app", "2.0", None, id="port-and-tag"),
    pytest.param("localhost/app", "localhost", "app", "latest", None, id="localhost"),
    pytest.param("localhost:5000/app:dev", "localhost:5000", "app", "dev", None, id="localhost-port"),
    pytest.param("myhost:5000/app", "myhost:5000", "app", "latest", None, id="host-with-port-no-dot"),
    pytest.param("127.0.0.1:5000/app", "127.0.0.1:5000", "app", "latest", None, id="ip-address"),
    pytest.param("nginx@" + DIGEST, "docker.io", "library/nginx", None, DIGEST, id="digest-only"),
    pytest.param("nginx:1.25@" + DIGEST, "docker.io", "library/nginx", "1.25", DIGEST, id="tag-and-digest"),
    pytest.param("reg.io:5000/p/app@" + DIGEST, "reg.io:5000", "p/app", None, DIGEST, id="port-and-digest"),
    pytest.param("my_app.v2-x:Tag_1.0-rc", "docker.io", "library/my_app.v2-x", "Tag_1.0-rc", None,
                 id="separators-and-mixed-case-tag"),
    pytest.param("  nginx\t", "docker.io", "library/nginx", "latest", None, id="surrounding-blanks"),
])
def test_parse(text, registry, repository, tag, digest):
    reference = ImageReference.parse(text)
    assert (reference.registry, reference.repository, reference.tag, reference.digest) == (
        registry, repository, tag, digest)


@pytest.mark.parametrize("text, name, project, reference_, string", [
    pytest.param("nginx", "docker.io/library/nginx", "library", "latest", "docker.io/library/nginx:latest",
                 id="official"),
    pytest.param("reg.io/proj/team/app:1", "reg.io/proj/team/app", "proj", "1", "reg.io/proj/team/app:1",
                 id="several-slashes"),
    pytest.param("reg.io/app", "reg.io/app", "", "latest", "reg.io/app:latest", id="no-project"),
    pytest.param("nginx:1@" + DIGEST, "docker.io/library/nginx", "library", DIGEST,
                 "docker.io/library/nginx:1@" + DIGEST, id="digest-addresses-the-manifest"),
])
def test_derived_properties(text, name, project, reference_, string):
    reference = ImageReference.parse(text)
    assert reference.name == name
    assert reference.project == project
    assert reference.reference == reference_
    assert str(reference) == string
    assert ImageReference.parse(str(reference)) == reference


@pytest.mark.parametrize("text, named", [
    pytest.param("", "''", id="empty"),
    pytest.param("   ", "'   '", id="blank"),
    pytest.param("Nginx", "'Nginx'", id="uppercase-name"),
    pytest.param("reg.io/Proj/app", "'Proj'", id="uppercase-project"),
    pytest.param("ngi nx", "'ngi nx'", id="space-inside"),
    pytest.param("nginx:1.0 extra", "'nginx:1.0 extra'", id="two-words"),
    pytest.param("nginx@sha256:abc", "'sha256:abc'", id="short-digest"),
    pytest.param("nginx@sha256:" + "AB" * 32, "'nginx@sha256:" + "AB" * 32 + "'", id="uppercase-digest"),
    pytest.param("nginx@md5:" + "ab" * 16, "'md5:", id="other-algorithm"),
    pytest.param("nginx:", "''", id="empty-tag"),
    pytest.param("nginx:-bad", "'-bad'", id="tag-starting-with-dash"),
    pytest.param("nginx:" + "a" * 129, "'" + "a" * 129 + "'", id="tag-too-long"),
    pytest.param("nginx:a+b", "'a+b'", id="tag-bad-character"),
    pytest.param("reg.io//app", "''", id="empty-component"),
    pytest.param("reg.io/app-", "'app-'", id="component-ends-with-separator"),
    pytest.param("reg.io/a...b", "'a...b'", id="three-dots"),
    pytest.param("@" + DIGEST, "'@" + DIGEST + "'", id="digest-without-name"),
    pytest.param("reg.io:port/app", "'reg.io:port/app'", id="bad-port"),
    pytest.param(None, "None", id="not-a-string"),
])
def test_invalid_reference_names_the_value(text, named):
    with pytest.raises(InputError) as error:
        ImageReference.parse(text)
    message = str(error.value)
    assert message.startswith("invalid image reference %r" % (text,))
    assert named in message


def test_longest_tag_is_valid():
    assert ImageReference.parse("nginx:" + "a" * 128).tag == "a" * 128


@pytest.mark.parametrize("text, project, expected", [
    pytest.param("nginx", "mirror", "docker.io/mirror/nginx:latest", id="replaces-library"),
    pytest.param("reg.io/proj/app:1", "other", "reg.io/other/app:1", id="replaces-project"),
    pytest.param("reg.io/proj/team/app:1", "other", "reg.io/other/team/app:1", id="keeps-deeper-path"),
    pytest.param("reg.io/app:1", "proj", "reg.io/proj/app:1", id="adds-project-to-one-segment"),
    pytest.param("reg.io/proj/app@" + DIGEST, "other", "reg.io/other/app@" + DIGEST, id="keeps-digest"),
    pytest.param("reg.io/proj/app:1", "", "reg.io/proj/app:1", id="empty-project-changes-nothing"),
    pytest.param("reg.io/proj/app:1", None, "reg.io/proj/app:1", id="no-project-changes-nothing"),
])
def test_with_project(text, project, expected):
    assert str(ImageReference.parse(text).with_project(project)) == expected


@pytest.mark.parametrize("project", ["Proj", "a/b", "-x", "with space"])
def test_with_project_rejects_invalid(project):
    with pytest.raises(InputError, match="invalid project %r" % project):
        ImageReference.parse("reg.io/proj/app").with_project(project)


@pytest.mark.parametrize("text, registry, expected", [
    pytest.param("nginx:1", "harbor.local", "harbor.local/library/nginx:1", id="hub-to-private"),
    pytest.param("reg.io/proj/app:1", "harbor.local:8443", "harbor.local:8443/proj/app:1", id="with-port"),
    pytest.param("reg.io/proj/app:1", "https://harbor.local/", "harbor.local/proj/app:1", id="url-form"),
    pytest.param("reg.io/proj/app:1", "index.docker.io", "docker.io/proj/app:1", id="hub-alias"),
    pytest.param("reg.io/app:1", "docker.io", "docker.io/library/app:1", id="one-segment-to-hub-gets-library"),
])
def test_with_registry(text, registry, expected):
    reference = ImageReference.parse(text).with_registry(registry)
    assert str(reference) == expected
    assert ImageReference.parse(str(reference)) == reference


@pytest.mark.parametrize("registry", ["", "reg io", "reg.io/path", "reg.io:port", "-reg.io"])
def test_with_registry_rejects_invalid(registry):
    with pytest.raises(InputError, match="invalid registry"):
        ImageReference.parse("nginx").with_registry(registry)


@pytest.mark.parametrize("text, expected", [
    pytest.param("docker.io", "docker.io", id="hub"),
    pytest.param("Index.Docker.IO", "docker.io", id="hub-alias-any-case"),
    pytest.param("registry-1.docker.io", "docker.io", id="hub-api-host"),
    pytest.param("http://reg.io:5000/", "reg.io:5000", id="scheme-and-slash"),
    pytest.param(" reg.io ", "reg.io", id="blanks"),
    pytest.param("[::1]:5000", "[::1]:5000", id="ipv6"),
])
def test_normalize_registry(text, expected):
    assert normalize_registry(text) == expected


def test_with_tag():
    assert str(ImageReference.parse("reg.io/app:1").with_tag("2")) == "reg.io/app:2"
