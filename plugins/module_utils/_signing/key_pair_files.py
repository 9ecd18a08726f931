# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A sigstore key pair on disk, `<prefix>.key` (0600) and `<prefix>.pub`, created when missing and
left alone when present and readable (private module_utils, no Ansible imports).

A pair that exists but cannot be used (wrong passphrase, another key's public half, one file missing
its partner) is never overwritten without `force`: it may be the only copy of someone's key.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from .._errors import SigningError
from .keys import generate_key_pair, load_private_key, load_public_key, read_key_file

CREATED = "created"
REPLACED = "replaced"
KEPT = "unchanged"
PUBLIC_WRITTEN = "public key written"


@dataclass
class KeyPairState:
    private_path: str
    public_path: str
    action: str
    public_pem: bytes = b""

    @property
    def changed(self):
        return self.action != KEPT


def _write_atomically(path, data, mode):
    directory = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def _existing_state(private_path, public_path, passphrase):
    """(action needed, public PEM) for what is on disk; raises SigningError for a pair we must not touch."""
    has_private, has_public = os.path.exists(private_path), os.path.exists(public_path)
    if not has_private and not has_public:
        return CREATED, b""
    if not has_private:
        raise SigningError("Error creating the key pair %s: the public key %s exists without its private key %s; "
                           "set force: true to replace it" % (private_path[:-4], public_path, private_path))
    key = load_private_key(read_key_file(private_path, "sigstore private key"), passphrase,
                           "sigstore private key %s" % private_path)
    expected = key.public_key.pem()
    if not has_public:
        return PUBLIC_WRITTEN, expected
    current = load_public_key(read_key_file(public_path, "sigstore public key"), "sigstore public key %s" % public_path)
    if current.der() != key.public_key.der():
        raise SigningError("Error checking the key pair: %s is not the public key of %s; set force: true to replace "
                           "both" % (public_path, private_path))
    return KEPT, expected


def ensure_key_pair(prefix, passphrase, force=False, check_mode=False):
    """Make sure `<prefix>.key` and `<prefix>.pub` hold a usable pair; KeyPairState says what was done."""
    private_path, public_path = prefix + ".key", prefix + ".pub"
    directory = os.path.dirname(os.path.abspath(private_path))
    if not os.path.isdir(directory):
        raise SigningError("Error creating the key pair %s: the folder %s does not exist" % (prefix, directory))
    if force:
        action, public_pem = (REPLACED if os.path.exists(private_path) or os.path.exists(public_path) else CREATED), b""
    else:
        action, public_pem = _existing_state(private_path, public_path, passphrase)
    if action == KEPT or check_mode:
        return KeyPairState(private_path, public_path, action, public_pem)
    try:
        if action == PUBLIC_WRITTEN:
            _write_atomically(public_path, public_pem, 0o644)
        else:
            private_pem, public_pem = generate_key_pair(passphrase)
            _write_atomically(private_path, private_pem, 0o600)
            _write_atomically(public_path, public_pem, 0o644)
    except OSError as exc:
        raise SigningError("Error writing the key pair %s: %s" % (prefix, exc)) from None
    return KeyPairState(private_path, public_path, action, public_pem)
