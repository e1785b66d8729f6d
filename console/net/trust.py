"""The one CA the console trusts, and the TLS 1.3 context built from it.

The CA file is read once: the bytes that are fingerprinted are the bytes the context
trusts, so the file cannot change between the check and the use.  There is deliberately
no way to build a context that skips verification."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from console.errors import ConsoleError
from shared.crypto import CertificateError, certificate_fingerprint

PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"


class TrustError(ConsoleError):
    """The CA file cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class TrustAnchor:
    """A CA certificate read from ``ca_file``."""

    ca_file: Path
    der: bytes
    fingerprint: str

    def tls_context(self) -> ssl.SSLContext:
        """Trusts exactly this CA (no system roots), checks the host name and refuses
        anything older than TLS 1.3."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=self.der)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.verify_flags |= ssl.VERIFY_X509_STRICT
        context.set_alpn_protocols(["http/1.1"])
        return context


def load_trust_anchor(ca_file: Path) -> TrustAnchor:
    """Read ``ca_file``: it must hold exactly one PEM certificate, and that a CA's."""
    path = ca_file.expanduser().resolve()
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise TrustError(f"The CA file {path} does not exist.") from None
    except OSError as exc:
        raise TrustError(f"The CA file {path} cannot be read: {exc.strerror}.") from None
    count = pem.count(PEM_BEGIN)
    if count != 1:
        found = "no PEM certificate" if count == 0 else f"{count} certificates"
        raise TrustError(f"The CA file {path} must hold exactly one PEM certificate; it holds {found}.")
    try:
        certificate = x509.load_pem_x509_certificate(pem)
        der = certificate.public_bytes(Encoding.DER)
        fingerprint = certificate_fingerprint(der)
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise TrustError(f"The certificate in {path} is not a CA certificate.") from None
    except (ValueError, CertificateError):
        raise TrustError(f"The CA file {path} does not hold a valid PEM certificate.") from None
    if not constraints.ca:
        raise TrustError(f"The certificate in {path} ({fingerprint}) is not a CA certificate.")
    return TrustAnchor(ca_file=path, der=der, fingerprint=fingerprint)
