"""Everything settled before the event loop runs: the profile directory and its lock,
logging and crash capture, then the servers and the CA to trust.

The lock comes before anything is written to the profile, so that a second console on
the same profile changes nothing."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from console.app import Startup
from console.crash import CrashReporter
from console.errors import StartupError
from console.faults import FaultLog
from console.files import ensure_private_directory
from console.lock import ProfileLock
from console.logs import LogSession, fields
from console.net.trust import TrustAnchor, TrustError, load_trust_anchor
from console.net.urls import ServerURLError, normalize_server_url
from console.options import Options
from console.paths import default_profile_dir
from console.profile import ProfileData, load_profile, save_profile
from console.version import console_version

logger = logging.getLogger("kluis.console.startup")


def resolve_profile_dir(options: Options) -> Path:
    if options.profile is not None:
        return options.profile.expanduser().resolve()
    if not options.servers:
        raise StartupError(
            "Give the server to use with --server https://HOST:PORT (and --ca FILE the first time), "
            "or a profile that remembers it with --profile DIR."
        )
    try:
        return default_profile_dir(options.servers[0])
    except OSError as exc:
        raise StartupError(f"No default profile directory: {exc}. Give one with --profile DIR.") from None


def resolve_servers(options: Options, remembered: ProfileData, profile_dir: Path) -> tuple[str, ...]:
    if options.servers:
        return options.servers
    try:
        servers = tuple(normalize_server_url(server) for server in remembered.servers)
    except ServerURLError as exc:
        raise StartupError(f"The profile in {profile_dir} remembers an unusable server: {exc}") from None
    if not servers:
        raise StartupError(f"The profile in {profile_dir} remembers no server; give one with --server URL.")
    return servers


def resolve_trust(options: Options, remembered: ProfileData, profile_dir: Path) -> TrustAnchor:
    """The CA named by ``--ca``, or else the one the profile remembers, provided that file
    still holds the very certificate the profile trusted."""
    try:
        if options.ca_file is not None:
            anchor = load_trust_anchor(options.ca_file)
            if remembered.ca_fingerprint not in (None, anchor.fingerprint):
                logger.warning(
                    "trusted CA replaced",
                    extra=fields(
                        previous_fingerprint=remembered.ca_fingerprint, fingerprint=anchor.fingerprint
                    ),
                )
            return anchor
        if remembered.ca_file is None or remembered.ca_fingerprint is None:
            raise StartupError(
                f"The profile in {profile_dir} does not know which CA to trust yet; give the CA file "
                "with --ca FILE (your administrator provides it)."
            )
        anchor = load_trust_anchor(remembered.ca_file)
    except TrustError as exc:
        raise StartupError(str(exc)) from None
    if anchor.fingerprint != remembered.ca_fingerprint:
        raise StartupError(
            f"The CA file {anchor.ca_file} no longer holds the CA this profile trusts (it trusted "
            f"{remembered.ca_fingerprint}; the file now holds {anchor.fingerprint}). If your "
            "administrator replaced the CA, start the console with --ca FILE to trust the new one."
        )
    return anchor


def prepare(options: Options, stack: ExitStack) -> Startup:
    """Settle the startup; everything acquired is released by ``stack``.  Raises
    :class:`StartupError` with a message for the user."""
    profile_dir = resolve_profile_dir(options)
    try:
        ensure_private_directory(profile_dir)
    except OSError as exc:
        raise StartupError(
            f"The profile directory {profile_dir} cannot be created: {exc.strerror}."
        ) from None
    lock = ProfileLock(profile_dir)
    lock.acquire()
    stack.callback(lock.release)

    try:
        logs = LogSession(profile_dir)
    except OSError as exc:
        raise StartupError(f"The log in {profile_dir} cannot be opened: {exc.strerror}.") from None
    stack.callback(logs.close)
    faults = FaultLog(profile_dir)
    try:
        previous_crash = faults.take_previous()
        faults.enable()
    except OSError as exc:
        raise StartupError(f"The crash log in {faults.directory} cannot be used: {exc.strerror}.") from None
    stack.callback(faults.disable)
    crash = CrashReporter()
    crash.install()
    stack.callback(crash.uninstall)
    logger.info("console starting", extra=fields(version=console_version(), path=str(profile_dir)))
    if previous_crash is not None:
        logger.warning("previous run crashed", extra=fields(path=str(previous_crash.archived_to)))

    remembered = load_profile(profile_dir)
    servers = resolve_servers(options, remembered, profile_dir)
    trust = resolve_trust(options, remembered, profile_dir)
    last_server = remembered.last_server if remembered.last_server in servers else None
    profile = replace(
        remembered,
        ca_file=trust.ca_file,
        ca_fingerprint=trust.fingerprint,
        servers=servers,
        last_server=last_server,
    )
    if profile != remembered:
        save_profile(profile_dir, profile)
    return Startup(
        profile_dir=profile_dir,
        profile=profile,
        servers=servers,
        trust=trust,
        crash=crash,
        log_path=logs.path,
        previous_crash=previous_crash,
    )
