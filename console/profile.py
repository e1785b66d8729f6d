"""The profile file: what a console remembers between runs in its profile directory.

``profile.json`` names the CA the profile trusts (its path and fingerprint), the servers
and the one that last answered.  It carries a format ``version``; a console refuses a
file written by a newer one instead of guessing at it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from console.errors import StartupError
from console.files import write_atomically

PROFILE_FILE = "profile.json"
PROFILE_VERSION = 1


class ProfileError(StartupError):
    """The profile file cannot be read or written; the message names it."""


class _TrustedCA(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1)
    fingerprint: str = Field(pattern=r"^SHA256:([0-9A-F]{2}:){31}[0-9A-F]{2}$")


class _ProfileDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    ca: _TrustedCA | None = None
    servers: list[str] = Field(default_factory=list)
    last_server: str | None = None


@dataclass(frozen=True)
class ProfileData:
    ca_file: Path | None = None
    ca_fingerprint: str | None = None
    servers: tuple[str, ...] = ()
    last_server: str | None = None


def profile_path(directory: Path) -> Path:
    return directory / PROFILE_FILE


def load_profile(directory: Path) -> ProfileData:
    """The remembered profile; an empty one when the directory has no profile file yet."""
    path = profile_path(directory)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return ProfileData()
    except OSError as exc:
        raise ProfileError(f"The profile file {path} cannot be read: {exc.strerror}.") from None
    try:
        decoded: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ProfileError(
            f"The profile file {path} is not valid JSON. It was left as it is; move it aside to start afresh."
        ) from None
    version = decoded.get("version") if isinstance(decoded, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise ProfileError(f"The profile file {path} has no format version. It was left as it is.")
    if version > PROFILE_VERSION:
        raise ProfileError(
            f"The profile file {path} was written by a newer Kluis console (format {version}; this "
            f"console reads format {PROFILE_VERSION} and older). Use a newer console or another --profile."
        )
    try:
        document = _ProfileDocument.model_validate(decoded)
    except ValidationError as exc:
        fields = sorted({".".join(str(part) for part in error["loc"]) for error in exc.errors()})
        raise ProfileError(
            f"The profile file {path} has unusable fields ({', '.join(fields)}). It was left as it is."
        ) from None
    return ProfileData(
        ca_file=Path(document.ca.path) if document.ca else None,
        ca_fingerprint=document.ca.fingerprint if document.ca else None,
        servers=tuple(document.servers),
        last_server=document.last_server,
    )


def save_profile(directory: Path, data: ProfileData) -> None:
    """Write the profile file atomically (see :func:`console.files.write_atomically`)."""
    ca = None
    if data.ca_file is not None and data.ca_fingerprint is not None:
        ca = _TrustedCA(path=str(data.ca_file), fingerprint=data.ca_fingerprint)
    document = _ProfileDocument(
        version=PROFILE_VERSION, ca=ca, servers=list(data.servers), last_server=data.last_server
    )
    encoded = json.dumps(document.model_dump(), indent=2, sort_keys=True).encode() + b"\n"
    try:
        write_atomically(profile_path(directory), encoded)
    except OSError as exc:
        raise ProfileError(
            f"The profile file {profile_path(directory)} cannot be written: {exc.strerror}."
        ) from None
