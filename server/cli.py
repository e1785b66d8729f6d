"""``kluis-server``: serve, migrate, and (as later features land) administration."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from server import __version__
from server.auth.commands import CommandRefused, add_commands, run_command
from server.auth.keystore import KeySetupError
from server.config import ConfigError, Settings, describe_settings, load_settings
from server.db.migrate import SchemaNotAtHead, upgrade_to_head
from server.db.urls import redacted
from server.logs import configure_logging
from server.runtime import KluisServer
from server.tls import TLSSetupError

EXIT_CONFIG = 2
EXIT_SCHEMA = 3
EXIT_TLS = 4
EXIT_REFUSED = 5
EXIT_KEYS = 6


def _settings_epilog() -> str:
    lines = ["settings (environment variables; the same names in lower case in the TOML file):"]
    for variable, default, description in describe_settings():
        shown = f" [default: {default}]" if default else ""
        lines.append(f"  {variable}{shown}")
        lines.extend(
            textwrap.wrap(description, width=76, initial_indent="      ", subsequent_indent="      ")
        )
    lines.append("  KLUIS_CONFIG: path of an optional TOML file read before the environment.")
    return "\n".join(lines)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file (also KLUIS_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="data directory (also KLUIS_DATA_DIR)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kluis-server",
        description="The Kluis sync server.",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kluis-server {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve the HTTPS API until SIGTERM or SIGINT",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(serve)
    serve.add_argument("--listen", help="HOST:PORT of the API (also KLUIS_LISTEN)")
    serve.add_argument("--metrics-listen", help="HOST:PORT of /metrics, empty to share the API's")

    migrate = commands.add_parser("migrate", help="bring the database schema to this version's head")
    _common(migrate)
    add_commands(commands, _common)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "data_dir": getattr(args, "data_dir", None),
        "listen": getattr(args, "listen", None),
        "metrics_listen": getattr(args, "metrics_listen", None),
    }
    return load_settings(config_file=args.config, overrides=overrides)


def _print_banner(server: KluisServer) -> None:
    assert server.api_address is not None
    host, port = server.api_address
    print(f"Kluis {__version__} listening on https://{host}:{port}", flush=True)
    if server.metrics_address is not None:
        metrics_host, metrics_port = server.metrics_address
        print(f"Metrics on https://{metrics_host}:{metrics_port}/metrics", flush=True)
    if server.tls is not None and server.tls.ca_file is not None and server.state is not None:
        print(f"Clients trust the CA in {server.tls.ca_file}", flush=True)
        print(f"CA fingerprint {server.state.ca_fingerprint}", flush=True)


def _started(server: KluisServer) -> None:
    # What start-up built (modules, tables, keys, the application) lives as long as the
    # process; frozen, the collector stops rescanning it in every full collection.
    gc.freeze()
    _print_banner(server)


def _serve(settings: Settings) -> int:
    asyncio.run(KluisServer(settings).serve(on_started=_started))
    return 0


def _migrate(settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.effective_database_url()
    upgrade_to_head(url)
    print(f"Database {redacted(url)} is at head.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"kluis-server: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level)
    try:
        if args.command == "serve":
            return _serve(settings)
        if args.command == "migrate":
            return _migrate(settings)
        if args.command in {"bootstrap", "admin", "demo-data"}:
            return run_command(settings, args)
    except CommandRefused as exc:
        print(f"kluis-server: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except KeySetupError as exc:
        print(f"kluis-server: {exc}", file=sys.stderr)
        return EXIT_KEYS
    except SchemaNotAtHead as exc:
        print(f"kluis-server: {exc}", file=sys.stderr)
        return EXIT_SCHEMA
    except TLSSetupError as exc:
        print(f"kluis-server: {exc}", file=sys.stderr)
        return EXIT_TLS
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
