"""A TLS failure's hint names the option that applies on that side: source_tls_verify / source_ca_path for the
sources of hangar_mirror and hangar_validate, tls_verify / ca_path for their destination and for hangar_save's
sources (whose registry options have no prefix)."""

import re

from tests.support.module_runner import run_module


def error_of(result):
    """The one image's error (hangar_validate calls it the reason)."""
    assert result["failed"] is True, result
    image = result["images"][0]
    return image.get("error") or image["reason"]


def hints(error):
    """The options a message tells the user to set ("set X: false", "set X to ...", "or X: false")."""
    return set(re.findall(r"(?:set|or) ([a-z_]+)(?::| to)", error))


def test_a_plain_http_source_of_mirror_names_source_tls_verify(registry, unique_repo):
    source = "%s/%s:1.0" % (registry.host, unique_repo("plain"))
    error = error_of(run_module("hangar_mirror", dict(images=[source], registry=registry.host, project="copies",
                                                      tls_verify=False)))
    assert "did not answer TLS" in error and registry.host in error, error
    assert "set source_tls_verify: false for a plain-HTTP registry" in error, error
    assert hints(error) == {"source_tls_verify"}, error


def test_a_self_signed_destination_of_mirror_names_tls_verify_and_ca_path(
        registry, tls_registry, image_factory, client_for, unique_repo):
    repo = unique_repo("tlsdest")
    image_factory.docker_image().push(client_for(registry), repo, "1.0")
    error = error_of(run_module("hangar_mirror", dict(images=["%s/%s:1.0" % (registry.host, repo)],
                                                      registry=tls_registry.host, source_tls_verify=False)))
    assert "TLS verification failed for %s" % tls_registry.host in error, error
    assert hints(error) == {"ca_path", "tls_verify"}, error


def test_a_self_signed_source_of_validate_names_source_options(registry, tls_registry, unique_repo):
    source = "%s/%s:1.0" % (tls_registry.host, unique_repo("tlssrc"))
    error = error_of(run_module("hangar_validate", dict(images=[source], registry=registry.host, tls_verify=False)))
    assert "TLS verification failed for %s" % tls_registry.host in error, error
    assert hints(error) == {"source_ca_path", "source_tls_verify"}, error


def test_a_plain_http_source_of_save_names_tls_verify(registry, unique_repo, tmp_path):
    source = "%s/%s:1.0" % (registry.host, unique_repo("plainsave"))
    error = error_of(run_module("hangar_save", dict(images=[source], archive=str(tmp_path / "out.zip"))))
    assert "set tls_verify: false for a plain-HTTP registry" in error, error
    assert hints(error) == {"tls_verify"}, error


def test_a_missing_source_ca_path_is_named_as_such(registry, unique_repo, tmp_path):
    missing = str(tmp_path / "no-such-ca.pem")
    result = run_module("hangar_mirror", dict(images=["%s/%s:1.0" % (registry.host, unique_repo("ca"))],
                                              registry=registry.host, tls_verify=False, source_ca_path=missing))
    assert result["failed"] is True, result
    text = result["msg"] + " ".join(image.get("error") or "" for image in result.get("images", []))
    assert "Error using source_ca_path %s: no such file or directory" % missing in text, result
