# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by the modules, defined once (private module_utils; imports Ansible, for modules only).

Documented once in plugins/doc_fragments/hangar.py: DOCUMENTATION for REGISTRY_OPTIONS, SOURCE for
SOURCE_REGISTRY_OPTIONS, PLATFORMS for PLATFORM_OPTIONS, TRANSFER for TRANSFER_OPTIONS.
"""

from __future__ import annotations

import re

from ansible.module_utils.basic import env_fallback, missing_required_lib

from .._copy.artifacts import ArtifactCarrier
from .._copy.model import CopyOptions
from .._copy.registry_store import RegistryStorePool
from .._copy.signing_step import SigningStep, chain_steps
from .._errors import InputError
from .._image.platform import PlatformFilter
from .._image.reference import normalize_registry
from .._registry.credentials import CredentialScope, registry_auth_entries
from .._requirements import requests

# Imported where used, not here: the registry client, the signing keys (and so requests, cryptography and PyNaCl)
# load only in runs that reach a registry or sign, so that a run with nothing to do starts fast (issue 17).

# The destination's credentials: the registry a module writes to (load, mirror) or checks (validate).
DESTINATION_CREDENTIAL_OPTIONS = dict(
    username=dict(type="str", fallback=(env_fallback, ["HANGAR_REGISTRY_USERNAME"])),
    password=dict(type="str", no_log=True, fallback=(env_fallback, ["HANGAR_REGISTRY_PASSWORD"])),
)

# How to reach the registries: per-registry credentials, the auth file, TLS.
CONNECTION_OPTIONS = dict(
    registry_auth=dict(type="list", elements="dict", options=dict(
        registry=dict(type="str", required=True),
        username=dict(type="str", required=True),
        password=dict(type="str", required=True, no_log=True),
    )),
    auth_file=dict(type="path"),
    tls_verify=dict(type="bool", default=True),
    ca_path=dict(type="path"),
)

REGISTRY_OPTIONS = dict(DESTINATION_CREDENTIAL_OPTIONS, **CONNECTION_OPTIONS)

# The sources' credentials: the registries a module reads from (save, mirror, validate).
SOURCE_CREDENTIAL_OPTIONS = dict(
    source_username=dict(type="str", fallback=(env_fallback, ["HANGAR_SOURCE_USERNAME"])),
    source_password=dict(type="str", no_log=True, fallback=(env_fallback, ["HANGAR_SOURCE_PASSWORD"])),
)

SOURCE_REGISTRY_OPTIONS = dict(
    SOURCE_CREDENTIAL_OPTIONS,
    source_tls_verify=dict(type="bool", default=True),
    source_ca_path=dict(type="path"),
)

CREDENTIAL_PAIRS = (("username", "password"), ("source_username", "source_password"))

PLATFORM_OPTIONS = dict(
    arch=dict(type="list", elements="str", default=["amd64", "arm64"]),
    os=dict(type="list", elements="str", default=["linux"]),
    provenance=dict(type="bool", default=True),
)

TRANSFER_OPTIONS = dict(
    jobs=dict(type="int", default=4),
    timeout=dict(type="raw", default="10m"),
    failed_file=dict(type="path"),
)

SIGNING_OPTIONS = dict(
    sigstore_private_key=dict(type="path"),
    sigstore_passphrase=dict(type="str", no_log=True, fallback=(env_fallback, ["HANGAR_SIGSTORE_PASSPHRASE"])),
    sigstore_passphrase_file=dict(type="path", no_log=False),
)

ARTIFACT_OPTIONS = dict(
    remove_signatures=dict(type="bool", default=False),
)

MAX_JOBS = 20
_DURATION_RE = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def argument_spec(*groups, **options):
    spec = {}
    for group in groups:
        spec.update(group)
    spec.update(options)
    return spec


def parse_timeout(value):
    """Seconds from `600`, `"600"`, `"90s"`, `"10m"`, `"1h30m"`; InputError otherwise."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip() if value is not None else ""
        match = _DURATION_RE.match(text)
        if text and re.match(r"^\d+(?:\.\d+)?$", text):
            seconds = float(text)
        elif text and match:
            hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
            seconds = hours * 3600 + minutes * 60 + secs
        else:
            raise InputError("invalid timeout %r: expected seconds or a duration such as 90s, 10m or 1h" % (value,))
    if seconds <= 0:
        raise InputError("invalid timeout %r: expected a duration greater than zero" % (value,))
    return seconds


def parse_jobs(value):
    if value is None or not 1 <= value <= MAX_JOBS:
        raise InputError("invalid jobs %r: expected a number from 1 to %d" % (value, MAX_JOBS))
    return value


def copy_options(params, check_mode):
    """CopyOptions from module parameters (the options each module has; others take defaults)."""
    jobs = parse_jobs(params.get("jobs", 4))
    return CopyOptions(
        platforms=PlatformFilter(params.get("arch"), params.get("os")),
        provenance=params.get("provenance", True),
        overwrite=params.get("overwrite", False) or False,
        platform_tags=params.get("platform_tags", False) or False,
        check_mode=check_mode,
        timeout=parse_timeout(params.get("timeout", "10m")),
        blob_jobs=max(4, jobs),
    )


def required_together(spec):
    """The credential pairs of `spec` for AnsibleModule's required_together: a user name without its password
    (or the reverse) is an error, not a silent anonymous login."""
    return [list(pair) for pair in CREDENTIAL_PAIRS if all(name in spec for name in pair)]


def registry_credentials(params, prefix="", tls_prefix=None):
    """The connection of one side of a run: `<prefix>username`/`<prefix>password` (scoped by a
    CredentialScope to the side's one registry), registry_auth, auth_file, and `<tls_prefix>tls_verify` and
    `<tls_prefix>ca_path` (tls_prefix defaults to prefix). Bind it to the side's registries, then give it to
    registry_stores() or registry_client()."""
    tls_prefix = prefix if tls_prefix is None else tls_prefix
    names = (prefix + "username", "source_registry" if prefix == "source_" else "registry")
    return SideConnection(
        CredentialScope(params.get(prefix + "username"), params.get(prefix + "password"),
                        registry_auth_entries(params.get("registry_auth")), names),
        params.get("auth_file"), params.get(tls_prefix + "tls_verify", True), params.get(tls_prefix + "ca_path"),
        option_prefix=tls_prefix)


class SideConnection:
    """What a RegistryClient of one side needs: the credential scope, the auth file and TLS settings."""

    def __init__(self, scope, auth_file, tls_verify, ca_path, option_prefix=""):
        self.scope = scope
        self.option_prefix = option_prefix  # hints in errors name this side's options (source_tls_verify)
        self.auth_file = auth_file
        self.tls_verify = tls_verify
        self.ca_path = ca_path

    def bind(self, registries, named=None):
        self.scope.bind(registries, named)
        return self

    def client_kwargs(self, registry):
        """RegistryClient keyword arguments for `registry`: the credentials scoped to it, else none (so the
        client reads the auth files for it)."""
        credentials = self.scope.credentials_for(normalize_registry(registry))
        return dict(username=credentials.username if credentials else None,
                    password=credentials.password if credentials else None,
                    auth_file=self.auth_file, tls_verify=self.tls_verify, ca_path=self.ca_path,
                    option_prefix=self.option_prefix)

    def get(self, key, default=None):
        """tls_verify, ca_path and auth_file by name."""
        return {"tls_verify": self.tls_verify, "ca_path": self.ca_path, "auth_file": self.auth_file}.get(key, default)


def fail_without(module, *libraries, **kwargs):
    """Fail with Ansible's usual missing_required_lib() message for the first of these LazyLibrary objects
    that cannot be imported; probe=True only looks whether each is installed, importing none."""
    for library in libraries:
        error = library.import_error(**kwargs)
        if error:
            module.fail_json(msg=missing_required_lib(library.package), exception=error)


def fail_without_requirements(module):
    """Fail the module with Ansible's usual message when the Python library requests is missing (looked for,
    not imported: the first request imports it)."""
    fail_without(module, requests, probe=True)


def registry_client(module, registry, connection, jobs):
    """A RegistryClient with connections for `jobs` images at once, logging through the module's debug;
    `connection` is a bound SideConnection."""
    from .._registry.client import RegistryClient

    return RegistryClient(registry, pool_size=max(20, jobs * 4), log=module.debug,
                          **connection.client_kwargs(registry))


def registry_stores(module, credentials, jobs):
    """A RegistryStorePool whose clients registry_client() makes with these credentials."""
    return RegistryStorePool(lambda registry: registry_client(module, registry, credentials, jobs))


def fail_without_signing_requirements(module):
    """Fail with Ansible's usual message when cryptography or PyNaCl is missing."""
    from .._signing import keys

    fail_without(module, *keys.LIBRARIES)


def signing_passphrase(params):
    """The passphrase from sigstore_passphrase_file (its first line) or sigstore_passphrase; None if neither."""
    if params.get("sigstore_passphrase_file"):
        from .._signing import keys

        return keys.read_passphrase_file(params["sigstore_passphrase_file"])
    return params.get("sigstore_passphrase")


def signing_key(module):
    """The PrivateKey of sigstore_private_key, loaded (and so the passphrase checked) before any work;
    None when no key is given."""
    params = module.params
    if not params.get("sigstore_private_key"):
        return None
    fail_without_signing_requirements(module)
    from .._signing import keys

    return keys.load_private_key_file(params["sigstore_private_key"], signing_passphrase(params))


def signing_public_keys(module):
    """The PublicKeys of sigstore_public_key (a path or a list of paths); [] when none is given."""
    paths = module.params.get("sigstore_public_key") or []
    if not paths:
        return []
    fail_without_signing_requirements(module)
    from .._signing import keys

    return [keys.load_public_key_file(path) for path in paths]


def after_copy_steps(module, key=None):
    """What the engine runs after each image: carry its artifacts unless remove_signatures, then sign with `key`."""
    carrier = None if module.params.get("remove_signatures") else ArtifactCarrier(module.check_mode)
    return chain_steps(carrier, SigningStep(key, module.check_mode) if key else None)
