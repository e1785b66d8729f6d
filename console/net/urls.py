"""Server addresses as the console accepts them: ``https://host[:port]`` and nothing more."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

DEFAULT_HTTPS_PORT = 443


class ServerURLError(ValueError):
    """The text is not a usable server address; the message says why."""


def normalize_server_url(text: str) -> str:
    """``https://host:port`` with the host in lower case and the port explicit.

    Paths, queries, fragments and user names are refused: a server address never carries
    credentials, and every API path is the console's to choose.  Error messages never
    repeat the text given, which may hold exactly such a secret."""
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        raise ServerURLError("The server address is not a valid URL; use https://HOST[:PORT].") from None
    if parts.scheme.lower() != "https":
        raise ServerURLError(
            "The server address must start with https://; the console only talks to servers over TLS."
        )
    if parts.username is not None or parts.password is not None:
        raise ServerURLError("A server address must not contain a user name or password.")
    if not parts.hostname:
        raise ServerURLError("The server address has no host name; use https://HOST[:PORT].")
    try:
        port = parts.port
    except ValueError:
        raise ServerURLError(f"The server address for {parts.hostname} has an invalid port.") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ServerURLError(
            f"The server address for {parts.hostname} must be just https://HOST[:PORT], "
            "without a path or query."
        )
    host = parts.hostname.lower()
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"https://{host}:{port or DEFAULT_HTTPS_PORT}"


def host_port_slug(url: str) -> str:
    """A file-name-safe ``host_port`` for a normalized server URL."""
    parts = urlsplit(url)
    host = (parts.hostname or "server").lower()
    safe = "".join(character if character.isalnum() or character in ".-" else "-" for character in host)
    return f"{safe}_{parts.port or DEFAULT_HTTPS_PORT}"
