"""``kluis-console`` command-line options."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from console.net.urls import ServerURLError, normalize_server_url
from console.version import console_version


@dataclass(frozen=True)
class Options:
    profile: Path | None
    servers: tuple[str, ...]
    ca_file: Path | None


def _server_url(text: str) -> str:
    try:
        return normalize_server_url(text)
    except ServerURLError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kluis-console",
        description="The Kluis desktop console for branch staff, compliance officers, auditors "
        "and administrators.",
    )
    parser.add_argument("--version", action="version", version=f"kluis-console {console_version()}")
    parser.add_argument(
        "--server",
        dest="servers",
        metavar="URL",
        action="append",
        type=_server_url,
        default=[],
        help="https://HOST[:PORT] of a Kluis server; repeat for fail-over, tried in the order given "
        "(the one that answered last is tried first). Optional when the profile remembers its servers.",
    )
    parser.add_argument(
        "--ca",
        dest="ca_file",
        metavar="FILE",
        type=Path,
        help="PEM file of the one CA to trust for the servers' certificates. Required the first time "
        "a profile is used; the profile remembers it (path and fingerprint) after that.",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        type=Path,
        help="profile directory (settings, logs, crash reports). Default: profiles/HOST_PORT of the "
        "first --server under this user's application data directory.",
    )
    return parser


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Parse ``argv``; on a usage error argparse prints it and exits with status 2."""
    args = build_parser().parse_args(argv)
    return Options(profile=args.profile, servers=tuple(dict.fromkeys(args.servers)), ca_file=args.ca_file)
