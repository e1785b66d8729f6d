"""The server's settings: one typed object, read from defaults, an optional TOML file,
``KLUIS_*`` environment variables and finally command-line flags, in that order."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_PREFIX = "KLUIS_"


class ConfigError(Exception):
    """The configuration cannot be used; the message says which setting and why."""


def parse_listen_address(value: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` to a (host, port) pair."""
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
    else:
        host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


class Settings(BaseModel):
    """Every setting the server reads.  Each field's description is its documentation:
    ``kluis-server --help`` and the README print them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(
        Path("data"),
        description="Directory for the SQLite database, development TLS files and server keys.",
    )
    listen: str = Field("127.0.0.1:8443", description="HOST:PORT of the HTTPS API.")
    metrics_listen: str = Field(
        "127.0.0.1:9464",
        description="HOST:PORT serving /metrics (over the same TLS); empty serves it on the API address.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database (postgresql://... in production); "
        "empty means SQLite in the data directory.",
    )
    tls_cert_file: Path | None = Field(
        None, description="PEM certificate chain of the server; empty creates a development CA."
    )
    tls_key_file: Path | None = Field(None, description="PEM private key matching tls_cert_file.")
    tls_ca_file: Path | None = Field(
        None, description="PEM CA certificate clients should trust; only used to print its fingerprint."
    )
    tls_server_names: list[str] = Field(
        default_factory=list,
        description="Extra DNS names or IP addresses for the development server certificate.",
    )
    max_header_bytes: int = Field(16 * 1024, ge=1024, description="Largest request header block (431).")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest request body (413).")
    tls_handshake_timeout: float = Field(10.0, gt=0, description="Seconds allowed for the TLS handshake.")
    header_timeout: float = Field(
        10.0, gt=0, description="Seconds from a request's first byte to its complete headers (408)."
    )
    body_timeout: float = Field(
        30.0, gt=0, description="Seconds a request body may go without progress (408)."
    )
    keepalive_timeout: float = Field(
        15.0, gt=0, description="Seconds an idle keep-alive connection is kept open."
    )
    max_connections: int = Field(
        1000, ge=1, description="Concurrent connections served; beyond it a client gets 503 and close."
    )
    shutdown_grace: float = Field(
        20.0, ge=0, description="Seconds in-flight requests get to finish on SIGTERM/SIGINT."
    )
    drain_delay: float = Field(
        0.0,
        ge=0,
        description="Seconds between readiness failing and the listener closing on shutdown.",
    )
    access_token_seconds: int = Field(
        300, ge=300, le=600, description="Lifetime of an access token in seconds (5 to 10 minutes)."
    )
    session_hours: float = Field(
        12.0,
        gt=0,
        le=24,
        description="Absolute lifetime of a signed-in session (a shift); then the user signs in again.",
    )
    session_idle_minutes: int = Field(
        30, ge=5, le=24 * 60, description="A session not refreshed for this many minutes ends."
    )
    offline_unlock_hours: int = Field(
        72,
        ge=0,
        le=30 * 24,
        description="Hours after the last online sign-in during which the console may unlock offline.",
    )
    lockout_failures: int = Field(
        10, ge=3, le=100, description="Failed sign-ins in a row after which an account is locked."
    )
    lockout_minutes: int = Field(15, ge=1, le=24 * 60, description="How long a locked account stays locked.")
    max_failures_per_hour: int = Field(
        100, ge=10, le=100, description="Failed sign-ins allowed on one account in any hour (at most 100)."
    )
    address_free_failures: int = Field(
        30,
        ge=5,
        description="Failed sign-ins from one client address in an hour before its attempts are delayed.",
    )
    enrollment_code_hours: int = Field(
        72, ge=1, le=30 * 24, description="Hours an enrollment code (new account, MFA reset) stays valid."
    )
    argon2_memory_kib: int = Field(
        65536, ge=19456, description="Argon2id memory cost in KiB for staff passwords (OWASP floor 19456)."
    )
    argon2_time_cost: int = Field(3, ge=2, le=20, description="Argon2id passes for staff passwords.")
    argon2_parallelism: int = Field(4, ge=1, le=16, description="Argon2id lanes for staff passwords.")
    token_issuer: str = Field(
        "kluis", min_length=1, description="The iss claim of access tokens; every instance must agree."
    )
    token_audience: str = Field(
        "kluis-api", min_length=1, description="The aud claim of access tokens; every instance must agree."
    )
    token_signing_key_file: Path | None = Field(
        None,
        description="PEM Ed25519 private key signing access tokens; empty creates one in DATA_DIR/keys. "
        "Several instances must share one.",
    )
    token_verification_key_files: list[str] = Field(
        default_factory=list,
        description="PEM Ed25519 public keys still accepted for access tokens (the previous key while "
        "rotating).",
    )
    mfa_secret_key_file: Path | None = Field(
        None,
        description="File holding the 32-byte key that encrypts TOTP secrets; empty creates one in "
        "DATA_DIR/keys. Several instances must share one.",
    )
    customer_key_database_url: str | None = Field(
        None,
        description="Database holding customers' data keys, apart from the data so that erasure reaches "
        "data backups; empty means DATA_DIR/keys/customer-keys.db (SQLite only; required with PostgreSQL).",
    )
    customer_master_key_file: Path | None = Field(
        None,
        description="File holding the 32-byte master key that wraps every customer's data key; empty "
        "creates one in DATA_DIR/keys. Several instances must share one; keep it out of data backups.",
    )
    audit_origin: str = Field(
        "kluis.example/audit",
        description="The audit log's name in its checkpoints and note key (like a URL without scheme); "
        "every instance must agree, and it must never change once the log has entries.",
    )
    audit_signing_key_file: Path | None = Field(
        None,
        description="PEM Ed25519 private key signing audit checkpoints and server events; empty creates "
        "one in DATA_DIR/keys. Several instances must share one.",
    )
    audit_checkpoint_interval: float = Field(
        0.5,
        gt=0,
        le=60,
        description="Seconds between checks for new audit entries to sign a checkpoint for.",
    )
    audit_retention_days: int = Field(
        2557, ge=1, description="Days audit events are kept (7 years by default), for every event class."
    )
    audit_retention_by_class: list[str] = Field(
        default_factory=list,
        description="Per-class retention overriding audit_retention_days, as CLASS=DAYS items, e.g. "
        "security=3653; the classes are access and security.",
    )
    audit_prune_interval_minutes: int = Field(
        60, ge=1, description="Minutes between passes that prune audit events past their retention."
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    access_log: bool = Field(True, description="Log one JSON line per request.")

    @field_validator("listen")
    @classmethod
    def _valid_listen(cls, value: str) -> str:
        parse_listen_address(value)
        return value

    @field_validator("metrics_listen")
    @classmethod
    def _valid_metrics_listen(cls, value: str) -> str:
        if value:
            parse_listen_address(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _valid_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @field_validator("audit_origin")
    @classmethod
    def _valid_audit_origin(cls, value: str) -> str:
        from shared.note import InvalidKeyError, check_key_name

        try:
            check_key_name(value)
        except InvalidKeyError as exc:
            raise ValueError(f"must be usable as a note key name: {exc}") from None
        return value

    @field_validator("audit_retention_by_class")
    @classmethod
    def _valid_retention_by_class(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for item in value:
            name, _, days = item.partition("=")
            if name not in {"access", "security"} or not days.isdigit() or int(days) < 1 or name in seen:
                raise ValueError(f"{item!r} must be CLASS=DAYS with CLASS access or security, once each")
            seen.add(name)
        return value

    @model_validator(mode="after")
    def _idle_within_session(self) -> Settings:
        if self.session_idle_minutes > self.session_hours * 60:
            raise ValueError("session_idle_minutes must not exceed session_hours")
        return self

    @property
    def listen_address(self) -> tuple[str, int]:
        return parse_listen_address(self.listen)

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        return parse_listen_address(self.metrics_listen) if self.metrics_listen else None

    @property
    def uses_development_tls(self) -> bool:
        return self.tls_cert_file is None

    def effective_database_url(self) -> str:
        from server.db.urls import async_database_url

        if self.database_url:
            return async_database_url(self.database_url)
        return async_database_url(f"sqlite:///{(self.data_dir / 'kluis.db').resolve()}")


def _env_values(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is None:
            continue
        if field.annotation == list[str]:
            values[name] = [item.strip() for item in raw.split(",") if item.strip()]
        elif raw == "" and not field.is_required() and field.default is None:
            values[name] = None
        else:
            values[name] = raw
    return values


def load_settings(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings; raise :class:`ConfigError` naming every bad setting."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = config_file or (Path(environ["KLUIS_CONFIG"]) if environ.get("KLUIS_CONFIG") else None)
    if config_file is not None:
        try:
            with config_file.open("rb") as handle:
                values.update(tomllib.load(handle))
        except OSError as exc:
            raise ConfigError(f"cannot read configuration file {config_file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {config_file} is not valid TOML: {exc}") from None
    values.update(_env_values(environ))
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every setting, for help texts."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list):
            shown = ",".join(default)
        elif default is None:
            shown = ""
        else:
            shown = str(default)
        rows.append((ENV_PREFIX + name.upper(), shown, field.description or ""))
    return rows
