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
from .._registry.client import RegistryClient
from .._registry.retry import REQUESTS_IMPORT_ERROR
from .._signing import keys as signing_keys

REGISTRY_OPTIONS = dict(
    username=dict(type="str", fallback=(env_fallback, ["HANGAR_REGISTRY_USERNAME"])),
    password=dict(type="str", no_log=True, fallback=(env_fallback, ["HANGAR_REGISTRY_PASSWORD"])),
    auth_file=dict(type="path"),
    tls_verify=dict(type="bool", default=True),
    ca_path=dict(type="path"),
)

SOURCE_REGISTRY_OPTIONS = dict(
    source_username=dict(type="str", fallback=(env_fallback, ["HANGAR_SOURCE_USERNAME"])),
    source_password=dict(type="str", no_log=True, fallback=(env_fallback, ["HANGAR_SOURCE_PASSWORD"])),
    source_tls_verify=dict(type="bool", default=True),
    source_ca_path=dict(type="path"),
)

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


def registry_credentials(params, prefix=""):
    """Keyword arguments for RegistryClient from the options `<prefix>username` and so on."""
    return dict(
        username=params.get(prefix + "username"),
        password=params.get(prefix + "password"),
        auth_file=params.get("auth_file"),
        tls_verify=params.get(prefix + "tls_verify", True),
        ca_path=params.get(prefix + "ca_path"),
    )


def fail_without_requirements(module):
    """Fail the module with Ansible's usual message when the Python library requests is missing."""
    if REQUESTS_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)


def registry_client(module, registry, credentials, jobs):
    """A RegistryClient with connections for `jobs` images at once, logging through the module's debug."""
    return RegistryClient(registry, pool_size=max(20, jobs * 4), log=module.debug, **credentials)


def registry_stores(module, credentials, jobs):
    """A RegistryStorePool whose clients registry_client() makes with these credentials."""
    return RegistryStorePool(lambda registry: registry_client(module, registry, credentials, jobs))


def fail_without_signing_requirements(module):
    """Fail with Ansible's usual message when cryptography or PyNaCl is missing."""
    if signing_keys.CRYPTOGRAPHY_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=signing_keys.CRYPTOGRAPHY_IMPORT_ERROR)
    if signing_keys.NACL_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("pynacl"), exception=signing_keys.NACL_IMPORT_ERROR)


def signing_passphrase(params):
    """The passphrase from sigstore_passphrase_file (its first line) or sigstore_passphrase; None if neither."""
    if params.get("sigstore_passphrase_file"):
        return signing_keys.read_passphrase_file(params["sigstore_passphrase_file"])
    return params.get("sigstore_passphrase")


def signing_key(module):
    """The PrivateKey of sigstore_private_key, loaded (and so the passphrase checked) before any work;
    None when no key is given."""
    params = module.params
    if not params.get("sigstore_private_key"):
        return None
    fail_without_signing_requirements(module)
    return signing_keys.load_private_key_file(params["sigstore_private_key"], signing_passphrase(params))


def signing_public_keys(module):
    """The PublicKeys of sigstore_public_key (a path or a list of paths); [] when none is given."""
    paths = module.params.get("sigstore_public_key") or []
    if not paths:
        return []
    fail_without_signing_requirements(module)
    return [signing_keys.load_public_key_file(path) for path in paths]


def after_copy_steps(module, key=None):
    """What the engine runs after each image: carry its artifacts unless remove_signatures, then sign with `key`."""
    carrier = None if module.params.get("remove_signatures") else ArtifactCarrier(module.check_mode)
    return chain_steps(carrier, SigningStep(key, module.check_mode) if key else None)
