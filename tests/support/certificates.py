"""Keys and self-signed certificates made at test time, for TLS registries and token signing."""

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def make_private_key(kind="EC"):
    """A fresh private key: "EC" (P-256, fast to make) or "RSA" (2048 bits)."""
    if kind == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError("unknown key kind %r: expected EC or RSA" % (kind,))


def self_signed_certificate(key, common_name, ip_addresses=(), days=7):
    """A self-signed CA certificate for `key`, valid now; `ip_addresses` become IP SANs.

    Being its own CA, it can be used both as a server certificate and as the trust anchor
    (skopeo's ca.crt, requests' verify=, the registry's token rootcertbundle).
    """
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=isinstance(key, rsa.RSAPrivateKey),
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ip_addresses:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]),
            critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                                        critical=False)
    return builder.sign(key, hashes.SHA256())


def certificate_pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM)


def private_key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
