"""The trust anchor: exactly one CA, TLS 1.3 only, and no way to switch verification off."""

from __future__ import annotations

import inspect
import re
import ssl
from pathlib import Path

import pytest

from console.net.client import ServerClient
from console.net.trust import TrustAnchor, TrustError, load_trust_anchor
from server.tls import ensure_development_tls
from shared.crypto import certificate_fingerprint

CONSOLE = Path(__file__).resolve().parents[3] / "console"


@pytest.fixture
def development_tls(tmp_path):
    return ensure_development_tls(tmp_path, [])


def test_loads_the_ca_and_computes_its_fingerprint_locally(development_tls):
    anchor = load_trust_anchor(development_tls.ca_file)
    assert anchor.ca_file == development_tls.ca_file.resolve()
    assert anchor.fingerprint == certificate_fingerprint(development_tls.ca_file.read_bytes())


def test_the_context_trusts_exactly_that_ca_and_only_tls13(development_tls):
    context = load_trust_anchor(development_tls.ca_file).tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    trusted = context.get_ca_certs()
    assert len(trusted) == 1
    assert trusted[0]["subject"] == (
        (("organizationName", "Kluis development"),),
        (("commonName", "Kluis development CA"),),
    )


def test_a_file_with_the_server_chain_is_refused(development_tls):
    with pytest.raises(TrustError, match="exactly one PEM certificate; it holds 2 certificates"):
        load_trust_anchor(development_tls.cert_file)


def test_a_leaf_certificate_is_not_a_ca(development_tls, tmp_path):
    leaf = development_tls.cert_file.read_bytes().split(b"-----END CERTIFICATE-----")[0]
    path = tmp_path / "leaf.pem"
    path.write_bytes(leaf + b"-----END CERTIFICATE-----\n")
    with pytest.raises(TrustError, match="is not a CA certificate"):
        load_trust_anchor(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"", "holds no PEM certificate"),
        (b"-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----\n", "not hold a valid PEM"),
    ],
)
def test_unusable_ca_files_are_named(tmp_path, content, message):
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TrustError, match=message) as failure:
        load_trust_anchor(path)
    assert str(path) in str(failure.value)


def test_nothing_offers_a_way_around_verification():
    assert list(inspect.signature(TrustAnchor.tls_context).parameters) == ["self"]
    client_options = set(inspect.signature(ServerClient.__init__).parameters)
    assert client_options == {"self", "servers", "trust", "preferred", "timeout", "on_server_changed"}
    forbidden = re.compile(
        r"CERT_NONE|verify\s*=\s*False|check_hostname\s*=\s*False|_create_unverified_context|"
        r"insecure|ignore.?ssl|skip.?verif",
        re.IGNORECASE,
    )
    offenders = [
        f"{path.relative_to(CONSOLE)}:{number}"
        for path in CONSOLE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if forbidden.search(line)
    ]
    assert offenders == []
