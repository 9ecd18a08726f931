# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by the modules, defined once, and the checks for the libraries they need (private module_utils;
imports Ansible, for modules only).

Kept light: a module imports the glue it uses (registry_connections.py, signing_options.py,
copy_options.py), so Ansible packs into its payload only the library code it can reach.

Documented once in plugins/doc_fragments/hangar.py: DOCUMENTATION for REGISTRY_OPTIONS, SOURCE for
SOURCE_REGISTRY_OPTIONS, PLATFORMS for PLATFORM_OPTIONS, TRANSFER for TRANSFER_OPTIONS.
"""

from __future__ import annotations

import re

from ansible.module_utils.basic import env_fallback, missing_required_lib

from .._errors import InputError
from .._requirements import requests

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


def required_together(spec):
    """The credential pairs of `spec` for AnsibleModule's required_together: a user name without its password
    (or the reverse) is an error, not a silent anonymous login."""
    return [list(pair) for pair in CREDENTIAL_PAIRS if all(name in spec for name in pair)]


def fail_without(module, *libraries, probe=False):
    """Fail with Ansible's usual missing_required_lib() message for the first of these LazyLibrary objects
    that cannot be imported; probe=True only looks whether each is installed, importing none."""
    for library in libraries:
        error = library.import_error(probe=probe)
        if error:
            module.fail_json(msg=missing_required_lib(library.package), exception=error)


def fail_without_requirements(module):
    """Fail the module with Ansible's usual message when the Python library requests is missing (looked for,
    not imported: the first request imports it)."""
    fail_without(module, requests, probe=True)
