"""The console's version, from the installed ``kluis`` distribution."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def console_version() -> str:
    try:
        return version("kluis")
    except PackageNotFoundError:
        return "unknown"
