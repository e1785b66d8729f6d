"""The development CA and the TLS contexts."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import stat

import pytest
from cryptography import x509

from server.tls import TLSSetupError, client_context, ensure_development_tls, server_context


def sans(path):
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(names.get_values_for_type(x509.DNSName)), set(names.get_values_for_type(x509.IPAddress))


def test_first_start_creates_a_ca_and_a_server_certificate(tmp_path):
    tls = ensure_development_tls(tmp_path, ["kluis.branch.example", "10.1.2.3"])
    assert tls.created_ca
    for key in (tls.key_file, tmp_path / "tls" / "ca-key.pem"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    dns, ips = sans(tls.cert_file)
    assert dns == {"localhost", "kluis.branch.example"}
    assert ips == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
        ipaddress.ip_address("10.1.2.3"),
    }
    ca = x509.load_pem_x509_certificate(tls.ca_file.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server = x509.load_pem_x509_certificate(tls.cert_file.read_bytes())
    assert server.issuer == ca.subject
    assert server.not_valid_after_utc - dt.datetime.now(dt.UTC) <= dt.timedelta(days=398)


def test_later_starts_keep_the_ca_and_reissue_only_for_new_names(tmp_path):
    first = ensure_development_tls(tmp_path, [])
    ca, cert = first.ca_file.read_bytes(), first.cert_file.read_bytes()
    again = ensure_development_tls(tmp_path, [])
    assert not again.created_ca
    assert again.cert_file.read_bytes() == cert
    renamed = ensure_development_tls(tmp_path, ["new.example"])
    assert renamed.ca_file.read_bytes() == ca
    assert renamed.cert_file.read_bytes() != cert
    assert "new.example" in sans(renamed.cert_file)[0]


def test_contexts_speak_tls13_only(tmp_path):
    tls = ensure_development_tls(tmp_path, [])
    server = server_context(tls.cert_file, tls.key_file)
    assert server.minimum_version == ssl.TLSVersion.TLSv1_3
    client = client_context(tls.ca_file)
    assert client.minimum_version == ssl.TLSVersion.TLSv1_3
    assert client.verify_mode == ssl.CERT_REQUIRED
    assert client.check_hostname


def test_client_context_trusts_only_the_given_ca(tmp_path):
    tls = ensure_development_tls(tmp_path, [])
    client = client_context(tls.ca_file)
    assert len(client.get_ca_certs()) == 1


def test_unreadable_certificate_is_a_clear_error(tmp_path):
    bogus = tmp_path / "cert.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(TLSSetupError, match=r"cert\.pem"):
        server_context(bogus, tmp_path / "missing-key.pem")


def test_corrupt_development_ca_is_a_clear_error(tmp_path):
    tls = ensure_development_tls(tmp_path, [])
    (tmp_path / "tls" / "ca-key.pem").write_text("garbage")
    with pytest.raises(TLSSetupError, match="unreadable"):
        ensure_development_tls(tmp_path, [])
    assert tls.ca_file.exists()
