# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry connections of a module: each side's credentials, clients and store pools (private module_utils,
for modules only).

The registry client (and so requests) is imported by registry_client(), when a run first reaches a registry:
a run with nothing to do never loads it (issue 17).
"""

from __future__ import annotations

from .._copy.registry_store import RegistryStorePool
from .._image.reference import normalize_registry
from .._registry.credentials import CredentialScope, registry_auth_entries


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


def registry_client(module, registry, connection, jobs):
    """A RegistryClient with connections for `jobs` images at once, logging through the module's debug;
    `connection` is a bound SideConnection."""
    from .._registry.client import RegistryClient

    return RegistryClient(registry, pool_size=max(20, jobs * 4), log=module.debug,
                          **connection.client_kwargs(registry))


def registry_stores(module, credentials, jobs):
    """A RegistryStorePool whose clients registry_client() makes with these credentials."""
    return RegistryStorePool(lambda registry: registry_client(module, registry, credentials, jobs))
