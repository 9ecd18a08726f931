# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sigstore signing keys: cosign's encrypted key files, PKCS#8 PEM, public keys, and generating a pair
(private module_utils, no Ansible imports).

A cosign key file is a PEM block (`ENCRYPTED COSIGN PRIVATE KEY` or `ENCRYPTED SIGSTORE PRIVATE KEY`)
whose body is JSON: scrypt parameters and salt, a NaCl secretbox nonce and the sealed PKCS#8 DER key.
Only the scrypt parameter sets cosign and containers/image accept are read: an attacker-chosen N
would be a denial of service. Only ECDSA P-256 is accepted, the one algorithm every cosign verifier
takes.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re

from .._errors import SigningError
from .._requirements import LazyLibrary

# Imported when a key is first used (modules report a missing one with missing_required_lib()).
crypto_exceptions = LazyLibrary("cryptography.exceptions")
hashes = LazyLibrary("cryptography.hazmat.primitives.hashes")
serialization = LazyLibrary("cryptography.hazmat.primitives.serialization")
ec = LazyLibrary("cryptography.hazmat.primitives.asymmetric.ec")
kdf_scrypt = LazyLibrary("cryptography.hazmat.primitives.kdf.scrypt")
nacl_exceptions = LazyLibrary("nacl.exceptions", "pynacl")
nacl_secret = LazyLibrary("nacl.secret", "pynacl")
LIBRARIES = (crypto_exceptions, hashes, serialization, ec, kdf_scrypt, nacl_exceptions, nacl_secret)

COSIGN_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"
SIGSTORE_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
ENCRYPTED_LABELS = (COSIGN_LABEL, SIGSTORE_LABEL)
PKCS8_LABELS = ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY")
PUBLIC_LABEL = "PUBLIC KEY"

# (N, r, p) that readers accept: go-tuf's old `encrypted` package only the first, go-securesystemslib all.
SCRYPT_PARAMETER_SETS = frozenset(((32768, 8, 1), (65536, 8, 1), (131072, 8, 1)))
WRITE_SCRYPT = (32768, 8, 1)  # the one set every reader accepts
SALT_SIZE = 32
NONCE_SIZE = 24
KEY_SIZE = 32

_PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)


def require_crypto():
    """SigningError naming the missing Python library, when one is missing."""
    for library in LIBRARIES:
        if library.import_error():
            raise SigningError("Error using sigstore keys: the Python library %s is not installed" % library.package)


def pem_blocks(data):
    """[(label, DER bytes)] of the PEM blocks in `data`."""
    blocks = []
    for match in _PEM_RE.finditer(data):
        body = b"".join(line.strip() for line in match.group(2).splitlines() if b":" not in line)
        try:
            blocks.append((match.group(1).decode("ascii"), base64.b64decode(body, validate=True)))
        except (binascii.Error, ValueError):
            blocks.append((match.group(1).decode("ascii"), None))
    return blocks


def pem_encode(label, der):
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)).encode("ascii")


def _as_bytes(passphrase):
    if passphrase is None:
        return b""
    return passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)


def scrypt_key(passphrase, salt, n, r, p):
    return kdf_scrypt.Scrypt(salt=salt, length=KEY_SIZE, n=n, r=r, p=p).derive(_as_bytes(passphrase))


def _require_p256(key, what):
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        raise SigningError("Error loading %s: unsupported key type %s: expected an ECDSA P-256 key"
                           % (what, type(key).__name__.lstrip("_")))
    if not isinstance(key.curve, ec.SECP256R1):
        raise SigningError("Error loading %s: unsupported elliptic curve %s: expected ECDSA P-256 (secp256r1)"
                           % (what, key.curve.name))
    return key


class PublicKey:
    """An ECDSA P-256 public key that verifies simple-signing signatures."""

    def __init__(self, key, name="public key"):
        self.key = _require_p256(key, name)
        self.name = name

    def verify(self, signature, payload):
        """True when `signature` (DER) is this key's ECDSA/SHA-256 signature over `payload`."""
        try:
            self.key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        except (crypto_exceptions.InvalidSignature, ValueError):
            return False
        return True

    def pem(self):
        return self.key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def der(self):
        return self.key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class PrivateKey:
    """An ECDSA P-256 signing key."""

    def __init__(self, key, name="private key"):
        self.key = _require_p256(key, name)
        self.name = name
        self.public_key = PublicKey(key.public_key(), name)

    def sign(self, payload):
        """The DER ECDSA/SHA-256 signature over the payload bytes."""
        return self.key.sign(payload, ec.ECDSA(hashes.SHA256()))


def _decrypt_cosign(der_json, passphrase, what):
    try:
        doc = json.loads(der_json)
        kdf, cipher = doc["kdf"], doc["cipher"]
        params = kdf["params"]
        n, r, p = params["N"], params["r"], params["p"]
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(cipher["nonce"], validate=True)
        ciphertext = base64.b64decode(doc["ciphertext"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise SigningError("Error loading %s: not a readable cosign key file (%s)" % (what, exc)) from None
    if kdf.get("name") != "scrypt":
        raise SigningError("Error loading %s: unsupported key derivation %r: expected scrypt" % (what, kdf.get("name")))
    if cipher.get("name") != "nacl/secretbox":
        raise SigningError("Error loading %s: unsupported cipher %r: expected nacl/secretbox"
                           % (what, cipher.get("name")))
    if (n, r, p) not in SCRYPT_PARAMETER_SETS or not all(isinstance(v, int) for v in (n, r, p)):
        raise SigningError("Error loading %s: unsupported scrypt parameters N=%s r=%s p=%s: expected N 32768, 65536 "
                           "or 131072 with r=8 p=1" % (what, n, r, p))
    if len(nonce) != NONCE_SIZE:
        raise SigningError("Error loading %s: the secretbox nonce has %d bytes, expected %d"
                           % (what, len(nonce), NONCE_SIZE))
    key = scrypt_key(passphrase, salt, n, r, p)
    try:
        return nacl_secret.SecretBox(key).decrypt(ciphertext, nonce)
    except nacl_exceptions.CryptoError:
        raise SigningError("Error loading %s: wrong passphrase (the key could not be decrypted)" % what) from None


def load_private_key(data, passphrase=None, what="private key"):
    """A PrivateKey from a cosign encrypted key file or a PKCS#8 PEM key (plain or encrypted)."""
    require_crypto()
    blocks = pem_blocks(data if isinstance(data, bytes) else data.encode("utf-8"))
    for label, der in blocks:
        if label not in ENCRYPTED_LABELS + PKCS8_LABELS:
            continue
        if der is None:
            raise SigningError("Error loading %s: the %s block is not valid base64" % (what, label))
        if label in ENCRYPTED_LABELS:
            plaintext = _decrypt_cosign(der, passphrase, what)
            try:
                key = serialization.load_der_private_key(plaintext, password=None)
            except (ValueError, TypeError) as exc:
                raise SigningError("Error loading %s: the decrypted key is not PKCS#8 (%s)" % (what, exc)) from None
            return PrivateKey(key, what)
        password = _as_bytes(passphrase) if label == "ENCRYPTED PRIVATE KEY" else None
        if label == "ENCRYPTED PRIVATE KEY" and not password:
            raise SigningError("Error loading %s: the key is encrypted: give its passphrase" % what)
        try:
            key = serialization.load_der_private_key(der, password=password)
        except TypeError as exc:
            raise SigningError("Error loading %s: %s" % (what, exc)) from None
        except ValueError as exc:
            if label == "ENCRYPTED PRIVATE KEY":
                raise SigningError("Error loading %s: wrong passphrase (the key could not be decrypted)"
                                   % what) from None
            raise SigningError("Error loading %s: not a readable private key (%s)" % (what, exc)) from None
        except Exception as exc:  # cryptography raises UnsupportedAlgorithm for keys it cannot represent
            raise SigningError("Error loading %s: %s" % (what, exc)) from None
        return PrivateKey(key, what)
    found = ", ".join(label for label, _der in blocks) or "no PEM block"
    raise SigningError("Error loading %s: found %s: expected a PEM block %s" % (
        what, found, " or ".join(repr(label) for label in ENCRYPTED_LABELS + PKCS8_LABELS[:2])))


def load_public_key(data, what="public key"):
    """A PublicKey from a `PUBLIC KEY` PEM block (SubjectPublicKeyInfo)."""
    require_crypto()
    blocks = pem_blocks(data if isinstance(data, bytes) else data.encode("utf-8"))
    for label, der in blocks:
        if label != PUBLIC_LABEL:
            continue
        try:
            key = serialization.load_der_public_key(der or b"")
        except (ValueError, TypeError) as exc:
            raise SigningError("Error loading %s: not a readable public key (%s)" % (what, exc)) from None
        except Exception as exc:  # UnsupportedAlgorithm
            raise SigningError("Error loading %s: %s" % (what, exc)) from None
        return PublicKey(key, what)
    found = ", ".join(label for label, _der in blocks) or "no PEM block"
    raise SigningError("Error loading %s: found %s: expected a PEM block 'PUBLIC KEY'" % (what, found))


def read_key_file(path, what):
    try:
        with open(path, "rb") as stream:
            return stream.read(1024 * 1024)
    except OSError as exc:
        raise SigningError("Error reading %s %s: %s" % (what, path, exc.strerror or exc)) from None


def read_passphrase_file(path):
    """The passphrase in a file: its first line, without the line ending (as skopeo and Hangar read it)."""
    data = read_key_file(path, "sigstore_passphrase_file")
    line = data.split(b"\n", 1)[0]
    return line[:-1] if line.endswith(b"\r") else line


def load_private_key_file(path, passphrase=None):
    return load_private_key(read_key_file(path, "sigstore private key"), passphrase, "sigstore private key %s" % path)


def load_public_key_file(path):
    return load_public_key(read_key_file(path, "sigstore public key"), "sigstore public key %s" % path)


def encrypt_cosign_key(private_key, passphrase, scrypt_params=WRITE_SCRYPT, label=COSIGN_LABEL):
    """The cosign key file (PEM bytes) holding `private_key` sealed with `passphrase`."""
    require_crypto()
    der = private_key.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    salt = os.urandom(SALT_SIZE)
    nonce = os.urandom(NONCE_SIZE)
    n, r, p = scrypt_params
    sealed = nacl_secret.SecretBox(scrypt_key(passphrase, salt, n, r, p)).encrypt(der, nonce).ciphertext
    doc = {"kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p}, "salt": base64.b64encode(salt).decode()},
           "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
           "ciphertext": base64.b64encode(sealed).decode()}
    return pem_encode(label, json.dumps(doc, separators=(",", ":")).encode("ascii"))


def generate_key_pair(passphrase):
    """(private key file bytes, public key PEM bytes): a new P-256 key in cosign's format, N=32768."""
    require_crypto()
    key = PrivateKey(ec.generate_private_key(ec.SECP256R1()), "generated key")
    return encrypt_cosign_key(key, passphrase), key.public_key.pem()
