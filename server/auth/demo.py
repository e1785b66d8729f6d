"""Demonstration data: branches and one fully enrolled user per role, for ``kluis-server
demo-data`` on a data directory marked as a demo one.

Real accounts are never made this way: they get an enrollment code and their owner chooses
the password.  Demo accounts get a generated password and TOTP secret that are printed and
written to ``DATA_DIR/DEMO-CREDENTIALS.txt`` so that a newcomer can sign in as any role."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.auth import totp
from server.auth.accounts import (
    Account,
    Actor,
    branch_by_code,
    create_account,
    create_branch,
    require_account,
)
from server.auth.mfa import MfaCipher, replace_recovery_codes
from server.auth.permissions import Role
from server.auth.security_events import EventKind, SecurityEvent, record
from server.auth.tables import enrollment_codes, users
from server.db.schema import server_meta

DEMO_MARKER = "DEMO"
CREDENTIALS_FILE = "DEMO-CREDENTIALS.txt"
META_KEY = "demo_installation"

DEMO_BRANCHES = (
    ("HO", "Head Office", "Gauteng"),
    ("JHB01", "Johannesburg Central", "Gauteng"),
    ("CPT01", "Cape Town Foreshore", "Western Cape"),
    ("DBN01", "Durban Umhlanga", "KwaZulu-Natal"),
)

DEMO_TELLER = "demo.teller"
DEMO_CUSTOMERS = 150
"""Made-up customers in the demo teller's branch (server/customers/demo.py)."""

DEMO_USERS = (
    ("demo.teller", "Thandi Teller (demo)", "JHB01", Role.TELLER),
    ("demo.supervisor", "Sipho Supervisor (demo)", "JHB01", Role.SUPERVISOR),
    ("demo.compliance", "Carla Compliance (demo)", "HO", Role.COMPLIANCE_OFFICER),
    ("demo.information", "Imran Information Officer (demo)", "HO", Role.INFORMATION_OFFICER),
    ("demo.auditor", "Anele Auditor (demo)", "HO", Role.AUDITOR),
    ("demo.admin", "Adri Admin (demo)", "HO", Role.ADMIN),
)

_WORDS = [
    "baobab",
    "protea",
    "fynbos",
    "karoo",
    "drakensberg",
    "kalahari",
    "springbok",
    "kudu",
    "impala",
    "marula",
    "rooibos",
    "umhlanga",
    "limpopo",
    "gariep",
    "sabie",
    "tugela",
    "knysna",
    "cederberg",
    "waterberg",
    "sossus",
    "hadeda",
    "weaver",
    "sunbird",
    "bokmakierie",
    "lourie",
    "fiscal",
    "hoopoe",
    "eland",
    "nyala",
    "duiker",
]


class NotADemoDirectory(Exception):
    """demo-data was asked to write into a data directory not marked as a demo one."""


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: str
    branch_code: str
    password: str
    totp_secret: str
    recovery_codes: list[str]


def demo_password() -> str:
    """Four random words and a number: long, policy-compliant and easy to type."""
    words = [secrets.choice(_WORDS) for _ in range(4)]
    return "-".join([*words, str(secrets.randbelow(90) + 10)])


async def provision_account(
    connection: AsyncConnection,
    *,
    username: str,
    display_name: str,
    branch_id: uuid.UUID,
    roles: list[str],
    password_hash: str,
    cipher: MfaCipher,
    actor: Actor,
    now: dt.datetime,
) -> tuple[Account, str, list[str]]:
    """An account with a password, an enrolled TOTP secret and recovery codes, as if its
    owner had completed enrollment.  For demo data and tests only."""
    account, _ = await create_account(
        connection,
        username=username,
        display_name=display_name,
        branch_id=branch_id,
        roles=roles,
        enrollment_lifetime=dt.timedelta(hours=1),
        actor=actor,
        now=now,
    )
    secret = totp.new_secret()
    await connection.execute(enrollment_codes.delete().where(enrollment_codes.c.user_id == account.id))
    await connection.execute(
        update(users)
        .where(users.c.id == account.id)
        .values(
            password_hash=password_hash,
            password_changed_at=now,
            totp_secret=cipher.seal(account.id, secret),
            mfa_enrolled_at=now,
            updated_at=now,
        )
    )
    codes = await replace_recovery_codes(connection, account.id, now)
    await record(
        connection,
        SecurityEvent(EventKind.MFA_ENROLLED, reason="demo_data", user_id=account.id, source=actor.source),
        now,
    )
    return await require_account(connection, account.id), secret, codes


def is_demo_directory(data_dir: Path) -> bool:
    return (data_dir / DEMO_MARKER).is_file()


def mark_demo_directory(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    marker = data_dir / DEMO_MARKER
    if not marker.exists():
        marker.write_text(
            "This data directory holds Kluis demonstration data: generated staff accounts whose\n"
            "passwords are written in DEMO-CREDENTIALS.txt.  Never use it for real work.\n"
        )


async def database_is_demo(connection: AsyncConnection) -> bool:
    value = await connection.scalar(select(server_meta.c.value).where(server_meta.c.key == META_KEY))
    return value == "true"


async def mark_database_demo(connection: AsyncConnection, now: dt.datetime) -> None:
    await connection.execute(server_meta.insert().values(key=META_KEY, value="true", updated_at=now))


async def create_demo_users(
    connection: AsyncConnection,
    *,
    password_hashes: dict[str, str],
    passwords: dict[str, str],
    cipher: MfaCipher,
    now: dt.datetime,
) -> list[DemoUser]:
    actor = Actor.cli()
    for code, name, region in DEMO_BRANCHES:
        if await branch_by_code(connection, code) is None:
            await create_branch(connection, code=code, name=name, region=region, actor=actor, now=now)
    created = []
    for username, display_name, branch_code, role in DEMO_USERS:
        branch = await branch_by_code(connection, branch_code)
        assert branch is not None
        _, secret, codes = await provision_account(
            connection,
            username=username,
            display_name=display_name,
            branch_id=branch.id,
            roles=[role.value],
            password_hash=password_hashes[username],
            cipher=cipher,
            actor=actor,
            now=now,
        )
        created.append(
            DemoUser(username, display_name, role.value, branch_code, passwords[username], secret, codes)
        )
    return created


def credentials_text(created: list[DemoUser], server_hint: str) -> str:
    lines = [
        "KLUIS DEMO CREDENTIALS - demonstration data only, never for real customers or staff.",
        "",
        f"Server: {server_hint}",
        "Sign in with the username, the password and the 6-digit code from an authenticator app",
        "(Google Authenticator, Microsoft Authenticator, FreeOTP, ...) set up with the TOTP secret",
        "below (choose 'enter a setup key', time-based).  A recovery code works once instead of a code.",
        "",
    ]
    for user in created:
        lines += [
            f"Role:           {user.role}",
            f"Username:       {user.username}",
            f"Name:           {user.display_name}  (branch {user.branch_code})",
            f"Password:       {user.password}",
            f"TOTP secret:    {user.totp_secret}",
            f"TOTP URI:       {totp.provisioning_uri(user.totp_secret, user.username)}",
            f"Recovery codes: {', '.join(user.recovery_codes)}",
            "",
        ]
    return "\n".join(lines)
