# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry credential lookup (private module_utils, no Ansible imports).

Order: explicit username/password; else `auth_file` alone when given; else REGISTRY_AUTH_FILE,
$XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json and the Docker config
($DOCKER_CONFIG/config.json or ~/.docker/config.json), the first file that knows the registry
winning. In a file, a `credHelpers` entry for the registry comes first, then an `auths` entry with
credentials, then `credsStore`. A helper runs as `docker-credential-<name> get` when it is on PATH
and is ignored otherwise, as a helper that does not know the registry is.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field

from .._errors import InputError
from .._image.reference import DOCKER_HUB, DOCKER_HUB_ALIASES, normalize_registry

DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
HELPER_TIMEOUT = 30


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    origin: str = ""  # where they were found, for messages ("auth file /x/auth.json")

    def __repr__(self):
        return "Credentials(username=%r, password=<hidden>, origin=%r)" % (self.username, self.origin)


def auth_key_host(key):
    """The registry an auth-file key names: scheme and Docker's /v1/ or /v2/ path dropped,
    Docker Hub's aliases mapped to docker.io. A key with a repository path gives None: those
    scope credentials to one namespace, and lookups here are per registry."""
    host = key.strip()
    for prefix in ("https://", "http://"):
        if host.lower().startswith(prefix):
            host = host[len(prefix):]
    host, _unused, path = host.partition("/")
    if path.strip("/") not in ("", "v1", "v2"):
        return None
    host = host.lower()
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def default_auth_files(environ=None):
    """The auth files searched when no auth_file option is given, in order."""
    environ = os.environ if environ is None else environ
    home = environ.get("HOME") or os.path.expanduser("~")
    files = []
    if environ.get("REGISTRY_AUTH_FILE"):
        files.append(environ["REGISTRY_AUTH_FILE"])
    if environ.get("XDG_RUNTIME_DIR"):
        files.append(os.path.join(environ["XDG_RUNTIME_DIR"], "containers", "auth.json"))
    files.append(os.path.join(home, ".config", "containers", "auth.json"))
    docker_dir = environ.get("DOCKER_CONFIG") or os.path.join(home, ".docker")
    files.append(os.path.join(docker_dir, "config.json"))
    return files


def find_credentials(registry, username=None, password=None, auth_file=None, environ=None):
    """Credentials for `registry` (normalised host[:port], "docker.io" for Docker Hub), or None.

    Raises InputError for an explicit auth_file that cannot be read, or any auth file that is not
    valid JSON; messages name the file, never its content.
    """
    if username:
        return Credentials(username, password or "", "options")
    environ = os.environ if environ is None else environ
    if auth_file:
        if not os.path.isfile(auth_file):
            raise InputError("Error reading auth file %s: no such file" % auth_file)
        files = [auth_file]
    else:
        files = default_auth_files(environ)
    for path in files:
        config = _read_auth_file(path)
        if config is not None:
            found = credentials_from_config(config, registry, path, environ)
            if found is not None:
                return found
    return None


def _read_auth_file(path):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError("Error reading auth file %s: %s" % (path, exc.strerror or exc)) from None
    try:
        config = json.loads(data)
    except ValueError:
        raise InputError("Error reading auth file %s: not valid JSON" % path) from None
    if not isinstance(config, dict):
        raise InputError("Error reading auth file %s: expected a JSON object" % path)
    return config


def _matching_value(mapping, registry):
    if not isinstance(mapping, dict):
        return None
    for key, value in mapping.items():
        if isinstance(key, str) and auth_key_host(key) == registry:
            return value
    return None


def credentials_from_config(config, registry, path="auth file", environ=None):
    """Credentials for `registry` from a parsed auth.json / config.json, or None."""
    helper = _matching_value(config.get("credHelpers"), registry)
    if isinstance(helper, str) and helper:
        found = run_credential_helper(helper, registry, environ)
        if found is not None:
            return found
    entry = _matching_value(config.get("auths"), registry)
    if isinstance(entry, dict):
        found = _credentials_from_entry(entry, registry, path)
        if found is not None:
            return found
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        return run_credential_helper(store, registry, environ)
    return None


def _credentials_from_entry(entry, registry, path):
    origin = "auth file %s" % path
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise InputError("Error reading auth file %s: the auth entry for %s is not base64 of user:password"
                             % (path, registry)) from None
        username, separator, password = decoded.partition(":")
        if not separator or not username:
            raise InputError("Error reading auth file %s: the auth entry for %s is not base64 of user:password"
                             % (path, registry)) from None
        return Credentials(username, password, origin)
    if isinstance(entry.get("username"), str) and entry["username"]:
        return Credentials(entry["username"], str(entry.get("password") or ""), origin)
    return None


def helper_server_url(registry):
    """What Docker passes to a credential helper: the legacy index URL for Docker Hub, else the host."""
    return DOCKER_HUB_AUTH_KEY if registry == DOCKER_HUB else registry


def run_credential_helper(name, registry, environ=None):
    """Ask `docker-credential-<name> get`; None when it is not installed, fails or does not know the registry."""
    environ = os.environ if environ is None else environ
    program = shutil.which("docker-credential-%s" % name, path=environ.get("PATH", os.defpath))
    if program is None:
        return None
    try:
        completed = subprocess.run([program, "get"], input=helper_server_url(registry).encode("utf-8"),
                                   capture_output=True, timeout=HELPER_TIMEOUT, env=dict(environ), check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    try:
        answer = json.loads(completed.stdout)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    username, secret = answer.get("Username"), answer.get("Secret")
    # "<token>" marks an identity token (OAuth refresh token), which this client does not use.
    if not isinstance(username, str) or not username or username == "<token>" or not isinstance(secret, str):
        return None
    return Credentials(username, secret, "credential helper docker-credential-%s" % name)


def registry_auth_entries(entries, option="registry_auth"):
    """{registry: Credentials} from a list of {registry, username, password}; InputError for a bad entry
    or a registry named twice (messages name the registry, never the password)."""
    found = {}
    for position, entry in enumerate(entries or [], 1):
        if not isinstance(entry, dict) or not entry.get("registry") or not entry.get("username") \
                or entry.get("password") is None:
            raise InputError("invalid %s entry %d: expected registry, username and password" % (option, position))
        try:
            registry = normalize_registry(entry["registry"])
        except InputError as exc:
            raise InputError("invalid %s entry %d: %s" % (option, position, exc)) from None
        if registry in found:
            raise InputError("invalid %s: registry %s is named twice" % (option, registry))
        found[registry] = Credentials(entry["username"], entry["password"], "%s entry %d" % (option, position))
    return found


class CredentialScope:
    """Which credentials go to which registry, for one side of a run (its sources, or its destinations).

    The side's own credentials (`username` and `password`, given as options or by the environment) go to
    that side's one registry only: the one `bind()` is told the side talks to. `per_registry` entries
    ({registry: Credentials}) go to their registry. Every other registry gets None here, and then the
    auth files (find_credentials) are asked, as docker and skopeo do.
    """

    def __init__(self, username=None, password=None, per_registry=None, names=("username", "registry")):
        self.username = username or None
        self.password = password
        self.per_registry = dict(per_registry or {})
        self.names = names  # (the credential option, the option that names the side's registry), for messages
        self.registry = None
        self._bound = False

    def bind(self, registries, named=None):
        """Tell the scope the registries of its side (normalised); `named` is the registry an option names.
        InputError when the side's credentials would have to go to several registries."""
        self._bound = True
        if not self.username:
            return self
        if named:
            self.registry = normalize_registry(named)
            return self
        distinct = sorted(set(registries))
        if len(distinct) > 1:
            raise InputError(
                "Error using %s: it is for one registry, but the images name several (%s); set %s to the one it is "
                "for, or give each registry its own credentials in registry_auth" % (
                    self.names[0], ", ".join(distinct), self.names[1]))
        self.registry = distinct[0] if distinct else None
        return self

    def credentials_for(self, registry):
        """Credentials for `registry` (normalised) from this scope, or None (then the auth files are read)."""
        if not self._bound:
            raise RuntimeError("CredentialScope.bind() must be called before credentials_for()")
        if self.username and registry == self.registry:
            return Credentials(self.username, self.password or "", "options")
        return self.per_registry.get(registry)
