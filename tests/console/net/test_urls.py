from __future__ import annotations

import pytest

from console.net.urls import ServerURLError, host_port_slug, normalize_server_url


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("https://localhost:8443", "https://localhost:8443"),
        ("https://Kluis.Example.CO.ZA/", "https://kluis.example.co.za:443"),
        (" https://127.0.0.1:9000 ", "https://127.0.0.1:9000"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_normalizes_server_addresses(text, normalized):
    assert normalize_server_url(text) == normalized


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("http://localhost:8443", "only talks to servers over TLS"),
        ("localhost:8443", "must start with https://"),
        ("https://user:secret@localhost:8443", "must not contain a user name or password"),
        ("https://user:secret@localhost:99999", "must not contain a user name or password"),
        ("https://localhost:8443/api?token=secret", "without a path or query"),
        ("https://localhost:8443/#secret", "without a path or query"),
        ("https://:8443", "has no host name"),
        ("https://localhost:99999", "invalid port"),
        ("https://[::1:8443", "not a valid URL"),
    ],
)
def test_refuses_unusable_addresses_without_repeating_them(text, reason):
    with pytest.raises(ServerURLError, match=reason) as failure:
        normalize_server_url(text)
    assert "secret" not in str(failure.value)


def test_slugs_are_safe_file_names():
    assert host_port_slug("https://localhost:8443") == "localhost_8443"
    assert host_port_slug("https://[::1]:8443") == "--1_8443"
