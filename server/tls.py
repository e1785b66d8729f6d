"""TLS 1.3: the server's context, and the development CA made on first start.

Production passes a certificate and key.  Without them the server makes a private CA
and a server certificate in the data directory, once, and clients are given that CA's
file; nothing anywhere turns certificate verification off."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from server.files import write_private_file, write_public_file

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
CA_LIFETIME = dt.timedelta(days=3650)
SERVER_LIFETIME = dt.timedelta(days=397)
RENEW_BEFORE = dt.timedelta(days=30)


class TLSSetupError(Exception):
    """Certificates or keys cannot be loaded; the message names the file."""


@dataclass(frozen=True)
class DevelopmentTLS:
    ca_file: Path
    cert_file: Path
    key_file: Path
    created_ca: bool


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server context that speaks TLS 1.3 only and offers ALPN ``http/1.1``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.set_alpn_protocols(["http/1.1"])
    context.options |= ssl.OP_NO_COMPRESSION
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise TLSSetupError(f"cannot load TLS certificate {cert_file} with key {key_file}: {exc}") from None
    return context


def client_context(ca_file: Path) -> ssl.SSLContext:
    """A client context that trusts exactly ``ca_file`` and insists on TLS 1.3."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.set_alpn_protocols(["http/1.1"])
    return context


def _name_entries(names: list[str]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return entries


def _load_ca(ca_file: Path, ca_key_file: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        certificate = x509.load_pem_x509_certificate(ca_file.read_bytes())
        key = serialization.load_pem_private_key(ca_key_file.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise TLSSetupError(f"development CA in {ca_file.parent} is unreadable: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TLSSetupError(f"{ca_key_file} is not an EC private key")
    return certificate, key


def _make_ca(now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Kluis development"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Kluis development CA"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def _make_server_certificate(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, names: list[str], now: dt.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + SERVER_LIFETIME, ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_name_entries(names)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return certificate, key


def _server_certificate_current(cert_file: Path, names: list[str], now: dt.datetime) -> bool:
    try:
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
        present = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    return set(_name_entries(names)) <= set(present) and certificate.not_valid_after_utc - now > RENEW_BEFORE


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ensure_development_tls(data_dir: Path, extra_names: list[str]) -> DevelopmentTLS:
    """Create (once) the development CA and (when missing, stale or lacking a name) the
    server certificate under ``data_dir/tls``.  Private keys are written mode 0600."""
    tls_dir = data_dir / "tls"
    tls_dir.mkdir(parents=True, exist_ok=True)
    ca_file, ca_key_file = tls_dir / "ca.pem", tls_dir / "ca-key.pem"
    cert_file, key_file = tls_dir / "server.pem", tls_dir / "server-key.pem"
    names = list(dict.fromkeys([*DEFAULT_NAMES, *extra_names]))
    now = dt.datetime.now(dt.UTC)

    created_ca = False
    if ca_file.exists() and ca_key_file.exists():
        ca, ca_key = _load_ca(ca_file, ca_key_file)
    else:
        ca, ca_key = _make_ca(now)
        write_private_file(ca_key_file, _key_pem(ca_key))
        write_public_file(ca_file, _pem(ca))
        created_ca = True

    if created_ca or not key_file.exists() or not _server_certificate_current(cert_file, names, now):
        certificate, key = _make_server_certificate(ca, ca_key, names, now)
        write_private_file(key_file, _key_pem(key))
        write_public_file(cert_file, _pem(certificate) + _pem(ca))
    return DevelopmentTLS(ca_file=ca_file, cert_file=cert_file, key_file=key_file, created_ca=created_ca)
