"""Test-side writers and readers of cosign formats, written from the documented format (SIGNING.md
§1-§2 facts: scrypt + NaCl secretbox around PKCS#8 DER, JSON in a PEM block; `.sig` manifest
layers), independently of the collection's code, so that a test checks the collection against the
format rather than against itself.

Deliberately a different code path: hashlib.scrypt (not cryptography's Scrypt), hand-written PEM,
the OpenSSL CLI for signatures.
"""

import base64
import hashlib
import io
import json
import os
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from nacl.secret import SecretBox

MAXMEM = 512 * 1024 * 1024


def scrypt(passphrase, salt, n, r=8, p=1):
    return hashlib.scrypt(passphrase.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=MAXMEM)


def write_cosign_key(path, passphrase, label="ENCRYPTED SIGSTORE PRIVATE KEY", n=65536, r=8, p=1,
                     curve=None, kdf_name="scrypt", cipher_name="nacl/secretbox", key=None):
    """Write a cosign-format private key file; returns the private key object."""
    key = key or ec.generate_private_key(curve or ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    salt, nonce = os.urandom(32), os.urandom(24)
    sealed = SecretBox(scrypt(passphrase, salt, n, r, p)).encrypt(der, nonce).ciphertext
    body = json.dumps({"kdf": {"name": kdf_name, "params": {"N": n, "r": r, "p": p},
                               "salt": base64.b64encode(salt).decode()},
                       "cipher": {"name": cipher_name, "nonce": base64.b64encode(nonce).decode()},
                       "ciphertext": base64.b64encode(sealed).decode()}, separators=(",", ":"))
    text = base64.b64encode(body.encode()).decode()
    lines = "\n".join(text[i:i + 64] for i in range(0, len(text), 64))
    Path(path).write_text("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, lines, label))
    return key


def read_cosign_key(path, passphrase):
    """(label, scrypt params, private key) of a cosign key file, read the documented way."""
    text = Path(path).read_text()
    label = text.split("-----BEGIN ", 1)[1].split("-----", 1)[0]
    body = "".join(line for line in text.splitlines() if line and not line.startswith("-----"))
    doc = json.loads(base64.b64decode(body))
    params = doc["kdf"]["params"]
    key = scrypt(passphrase, base64.b64decode(doc["kdf"]["salt"]), params["N"], params["r"], params["p"])
    der = SecretBox(key).decrypt(base64.b64decode(doc["ciphertext"]), base64.b64decode(doc["cipher"]["nonce"]))
    return label, (params["N"], params["r"], params["p"]), serialization.load_der_private_key(der, None)


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def openssl_verify(public_key_path, signature_der, payload, workdir):
    """True when `openssl dgst -sha256 -verify` accepts the DER signature over the payload bytes."""
    workdir = Path(workdir)
    (workdir / "payload.bin").write_bytes(payload)
    (workdir / "sig.der").write_bytes(signature_der)
    done = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(public_key_path), "-signature",
                           str(workdir / "sig.der"), str(workdir / "payload.bin")],
                          capture_output=True, text=True, check=False)
    if "Verified OK" in done.stdout:
        return True
    assert "Verification failure" in done.stdout + done.stderr, done.stdout + done.stderr
    return False


def openssl_sign(private_key_pem_path, payload, workdir):
    """A DER ECDSA signature over payload made by the OpenSSL CLI."""
    workdir = Path(workdir)
    (workdir / "to-sign.bin").write_bytes(payload)
    return subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(private_key_pem_path),
                           str(workdir / "to-sign.bin")], capture_output=True, check=True).stdout


def openssl_scrypt(passphrase, salt, n, r=8, p=1):
    done = subprocess.run(["openssl", "kdf", "-keylen", "32", "-kdfopt", "pass:" + passphrase, "-kdfopt",
                           "hexsalt:" + salt.hex(), "-kdfopt", "n:%d" % n, "-kdfopt", "r:%d" % r, "-kdfopt",
                           "p:%d" % p, "SCRYPT"], capture_output=True, text=True, check=True)
    return bytes.fromhex(done.stdout.strip().replace(":", ""))


def cosign_payload(digest, reference, optional=None):
    """A payload as cosign writes it (identity without tag, optional null, Go field order)."""
    return json.dumps({"critical": {"identity": {"docker-reference": reference},
                                    "image": {"docker-manifest-digest": digest},
                                    "type": "cosign container image signature"},
                       "optional": optional}, separators=(",", ":")).encode()


def push_cosign_signature(client, repo, digest, layers):
    """Push a `.sig` manifest the way cosign lays it out, written here by hand: `layers` are
    (media type, payload bytes, annotations) tuples; returns the manifest bytes."""
    descriptors = []
    for media_type, payload, annotations in layers:
        payload_digest = "sha256:" + hashlib.sha256(payload).hexdigest()
        if not client.blob_exists(repo, payload_digest):
            client.push_blob(repo, payload_digest, len(payload), io.BytesIO(payload))
        descriptor = {"mediaType": media_type, "size": len(payload), "digest": payload_digest}
        if annotations:
            descriptor["annotations"] = annotations
        descriptors.append(descriptor)
    config = json.dumps({"architecture": "", "created": "0001-01-01T00:00:00Z",
                         "history": [{"created": "0001-01-01T00:00:00Z"}],
                         "os": "", "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descriptors]},
                         "config": {}}, separators=(",", ":")).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    client.push_blob(repo, config_digest, len(config), io.BytesIO(config))
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                                      "digest": config_digest},
                           "layers": descriptors}, separators=(",", ":")).encode()
    tag = "sha256-%s.sig" % digest.split(":", 1)[1]
    client.put_manifest(repo, tag, manifest, "application/vnd.oci.image.manifest.v1+json")
    return manifest


def sigstore_registries_d(directory, registry):
    """A registries.d folder that makes skopeo read and write sigstore attachments for `registry`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hangar.yaml").write_text('docker:\n  "%s":\n    use-sigstore-attachments: true\n' % registry.host)
    return directory


def skopeo_signatures(directory):
    """The sigstore signatures skopeo wrote into a `dir:` copy: [(payload bytes, annotations)]."""
    found = []
    for path in sorted(Path(directory).glob("signature-*")):
        data = path.read_bytes()
        prefix = b"\x00sigstore-json\n"
        assert data.startswith(prefix), data[:20]
        doc = json.loads(data[len(prefix):])
        assert doc["mimeType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
        found.append((base64.b64decode(doc["payload"]), doc.get("annotations") or {}))
    return found
