# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sigstore keys of a module that signs or verifies (private module_utils; imports Ansible, for modules only).

The signing keys (and so cryptography and PyNaCl) are imported inside these functions, when a key is given:
a run that signs nothing never loads them (issue 17).
"""

from __future__ import annotations

from .module_options import fail_without


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
