"""Sigstore key files: cosign's encrypted format (written here by a test-side writer that follows
the documented format, not by the collection), PKCS#8 PEM from the OpenSSL CLI, P-256 only, and
the collection's own generated keys read back the documented way and checked by OpenSSL."""

import base64
import json
import subprocess

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ansible_collections.airgap.hangar.plugins.module_utils._errors import SigningError
from ansible_collections.airgap.hangar.plugins.module_utils._signing import keys
from tests.support import cosign_files

PASSPHRASE = "correct horse"


@pytest.mark.parametrize("label", ["ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"])
@pytest.mark.parametrize("n", [32768, 65536, 131072])
def test_cosign_key_files_of_every_accepted_parameter_set_load(tmp_path, label, n):
    path = tmp_path / "cosign.key"
    written = cosign_files.write_cosign_key(path, PASSPHRASE, label=label, n=n)
    key = keys.load_private_key_file(str(path), PASSPHRASE)
    assert key.public_key.der() == keys.PublicKey(written.public_key()).der()


def test_empty_passphrase_is_a_passphrase(tmp_path):
    path = tmp_path / "cosign.key"
    cosign_files.write_cosign_key(path, "")
    assert keys.load_private_key_file(str(path), "") is not None
    assert keys.load_private_key_file(str(path), None) is not None


def test_wrong_passphrase_is_a_clear_error(tmp_path):
    path = tmp_path / "cosign.key"
    cosign_files.write_cosign_key(path, PASSPHRASE, n=32768)
    with pytest.raises(SigningError, match=r"Error loading sigstore private key .*cosign.key: wrong passphrase"):
        keys.load_private_key_file(str(path), "wrong")


@pytest.mark.parametrize("overrides, message", [
    pytest.param(dict(n=16384), "unsupported scrypt parameters N=16384 r=8 p=1", id="small-n"),
    pytest.param(dict(n=32768, r=16), "unsupported scrypt parameters N=32768 r=16", id="other-r"),
    pytest.param(dict(n=32768, kdf_name="pbkdf2"), "unsupported key derivation 'pbkdf2'", id="kdf"),
    pytest.param(dict(n=32768, cipher_name="aes-gcm"), "unsupported cipher 'aes-gcm'", id="cipher"),
    pytest.param(dict(n=32768, curve=ec.SECP384R1()), "unsupported elliptic curve secp384r1", id="p384"),
])
def test_what_cosign_would_not_read_or_we_do_not_sign_with_is_refused(tmp_path, overrides, message):
    path = tmp_path / "cosign.key"
    cosign_files.write_cosign_key(path, PASSPHRASE, **overrides)
    with pytest.raises(SigningError, match=message):
        keys.load_private_key_file(str(path), PASSPHRASE)


def openssl(*args):
    return subprocess.run(["openssl"] + list(args), capture_output=True, check=True).stdout


def test_pkcs8_pem_keys_plain_and_encrypted_from_openssl(tmp_path):
    plain = tmp_path / "plain.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(plain))
    encrypted = tmp_path / "encrypted.pem"
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", str(plain), "-passout", "pass:" + PASSPHRASE,
            "-out", str(encrypted))
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in encrypted.read_bytes()
    one = keys.load_private_key_file(str(plain))
    two = keys.load_private_key_file(str(encrypted), PASSPHRASE)
    assert one.public_key.der() == two.public_key.der()
    with pytest.raises(SigningError, match="wrong passphrase"):
        keys.load_private_key_file(str(encrypted), "nope")
    with pytest.raises(SigningError, match="the key is encrypted: give its passphrase"):
        keys.load_private_key_file(str(encrypted))


@pytest.mark.parametrize("genpkey, message", [
    pytest.param(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], "unsupported key type RSAPrivateKey",
                 id="rsa"),
    pytest.param(["-algorithm", "ED25519"], "unsupported key type Ed25519PrivateKey", id="ed25519"),
    pytest.param(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"], "unsupported elliptic curve secp384r1",
                 id="p384"),
])
def test_other_algorithms_are_refused_by_name(tmp_path, genpkey, message):
    path = tmp_path / "other.pem"
    openssl("genpkey", *genpkey, "-out", str(path))
    with pytest.raises(SigningError, match="expected .*ECDSA P-256"):
        keys.load_private_key_file(str(path))
    with pytest.raises(SigningError, match=message):
        keys.load_private_key_file(str(path))


def test_not_a_key_names_what_it_found(tmp_path):
    path = tmp_path / "cert.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(SigningError, match="found CERTIFICATE: expected a PEM block 'ENCRYPTED COSIGN PRIVATE KEY'"):
        keys.load_private_key_file(str(path))
    with pytest.raises(SigningError, match="Error reading sigstore private key .*missing.key"):
        keys.load_private_key_file(str(tmp_path / "missing.key"))


def test_generated_pair_is_cosign_format_read_the_documented_way(tmp_path):
    private_pem, public_pem = keys.generate_key_pair(PASSPHRASE)
    path = tmp_path / "hangar.key"
    path.write_bytes(private_pem)
    label, params, key = cosign_files.read_cosign_key(path, PASSPHRASE)
    assert label == "ENCRYPTED COSIGN PRIVATE KEY"
    assert params == (32768, 8, 1)
    assert cosign_files.public_pem(key) == public_pem
    body = b"".join(line for line in private_pem.splitlines() if not line.startswith(b"-----"))
    assert list(json.loads(base64.b64decode(body))) == ["kdf", "cipher", "ciphertext"]  # Go's field order
    assert all(len(line) <= 64 for line in private_pem.splitlines())
    public_path = tmp_path / "hangar.pub"
    public_path.write_bytes(public_pem)
    assert b"ASN1 OID: prime256v1" in openssl("pkey", "-pubin", "-in", str(public_path), "-noout", "-text")


def test_scrypt_agrees_with_the_openssl_cli():
    salt = bytes(range(32))
    assert keys.scrypt_key("pw", salt, 32768, 8, 1) == cosign_files.openssl_scrypt("pw", salt, 32768)


def test_signatures_verify_with_the_openssl_cli_and_a_tampered_payload_fails(tmp_path):
    private_pem, public_pem = keys.generate_key_pair(PASSPHRASE)
    key = keys.load_private_key(private_pem, PASSPHRASE)
    (tmp_path / "k.pub").write_bytes(public_pem)
    payload = b'{"critical":{}}'
    signature = key.sign(payload)
    assert cosign_files.openssl_verify(tmp_path / "k.pub", signature, payload, tmp_path)
    assert not cosign_files.openssl_verify(tmp_path / "k.pub", signature, payload + b" ", tmp_path)
    assert key.public_key.verify(signature, payload)
    assert not key.public_key.verify(signature, payload.replace(b"{}", b"[]"))


def test_openssl_made_signatures_verify_here(tmp_path):
    plain = tmp_path / "plain.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(plain))
    public = tmp_path / "plain.pub"
    openssl("pkey", "-in", str(plain), "-pubout", "-out", str(public))
    payload = b"hello"
    signature = cosign_files.openssl_sign(plain, payload, tmp_path)
    public_key = keys.load_public_key_file(str(public))
    assert public_key.verify(signature, payload)
    assert not public_key.verify(signature, b"hellO")


def test_public_key_loader_refuses_private_keys_and_other_curves(tmp_path):
    private_pem, _public = keys.generate_key_pair("")
    with pytest.raises(SigningError, match="found ENCRYPTED COSIGN PRIVATE KEY: expected a PEM block 'PUBLIC KEY'"):
        keys.load_public_key(private_pem, "k")
    other = tmp_path / "p384.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", str(other))
    pub = openssl("pkey", "-in", str(other), "-pubout")
    with pytest.raises(SigningError, match="unsupported elliptic curve secp384r1"):
        keys.load_public_key(pub, "k")


def test_passphrase_file_is_its_first_line(tmp_path):
    path = tmp_path / "pw"
    path.write_bytes(b"secret\r\nsecond line\n")
    assert keys.read_passphrase_file(str(path)) == b"secret"
    path.write_bytes(b"secret")
    assert keys.read_passphrase_file(str(path)) == b"secret"
