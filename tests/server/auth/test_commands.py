"""``kluis-server bootstrap``, ``admin`` and ``demo-data``, run as an operator runs them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import stat
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import select

from server.audit.tables import audit_pending
from server.auth import totp
from server.auth.context import AuthContext
from server.auth.demo import DEMO_CUSTOMERS
from server.auth.enrollment import start_enrollment
from server.auth.keystore import ServerKeys
from server.auth.tables import security_events
from server.cli import EXIT_REFUSED, EXIT_SCHEMA, main
from server.config import Settings
from server.customers.service import CustomerRegister
from server.customers.tables import customers
from server.db.engine import Database
from shared.customers import CustomerFields
from shared.sa_id import parse_sa_id
from testkit.auth import FAST_ARGON2, Device, Staff, provision, service_sign_in

CODE = re.compile(r"One-time enrollment code: ([a-z2-9]{5}(?:-[a-z2-9]{5}){3})")


@pytest.fixture
def kluis(tmp_path, monkeypatch, capsys):
    """``kluis(*argv)`` runs ``kluis-server`` in-process against the test's database and
    data directory, returning (exit code, stdout, stderr)."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    for name in list(os.environ):
        if name.startswith("KLUIS_"):
            monkeypatch.delenv(name)
    for name, value in FAST_ARGON2.items():
        monkeypatch.setenv(f"KLUIS_{name.upper()}", str(value))

    def run(*argv: str, database_url: str | None = None, data_dir=tmp_path) -> tuple[int, str, str]:
        if database_url:
            monkeypatch.setenv("KLUIS_DATABASE_URL", database_url)
            if not database_url.startswith("sqlite"):
                key_database = f"sqlite:///{tmp_path / 'customer-keys.db'}"
                monkeypatch.setenv("KLUIS_CUSTOMER_KEY_DATABASE_URL", key_database)
        command, *rest = argv
        if command == "admin":
            action, *rest = rest
            args = [command, action, "--data-dir", str(data_dir), *rest]
        else:
            args = [command, "--data-dir", str(data_dir), *rest]
        try:
            code = main(args)
        finally:
            root.handlers[:] = saved[0]
            root.setLevel(saved[1])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def settings_for(tmp_path, database_url) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url, **FAST_ARGON2)


def context_for(settings: Settings) -> tuple[AuthContext, Database]:
    database = Database(settings.effective_database_url())
    return AuthContext.create(database, settings, ServerKeys.load(settings)), database


def test_bootstrap_needs_a_migrated_database(kluis, empty_database_url):
    code, _, err = kluis("bootstrap", database_url=empty_database_url)
    assert code == EXIT_SCHEMA
    assert "kluis-server migrate" in err


def test_bootstrap_creates_the_first_administrator_once(kluis, database_url, tmp_path):
    code, out, _ = kluis("bootstrap", "--username", "Adri", database_url=database_url)
    assert code == 0
    assert "Created administrator 'adri' in branch HO." in out
    enrollment_code = CODE.search(out).group(1)

    again, _, err = kluis("bootstrap", "--username", "other", database_url=database_url)
    assert again == EXIT_REFUSED
    assert "an administrator already exists" in err

    async def check() -> None:
        context, database = context_for(settings_for(tmp_path, database_url))
        try:
            started = await start_enrollment(context, "adri", enrollment_code, None)
            assert started.otpauth_uri.startswith("otpauth://totp/Kluis:adri")
            async with database.transaction() as connection:
                rows = (await connection.execute(select(security_events))).all()
            assert {(row.kind, row.source) for row in rows} >= {
                ("user_created", "cli"),
                ("branch_created", "cli"),
            }
        finally:
            await database.dispose()

    asyncio.run(check())


def test_admin_manages_accounts(kluis, database_url):
    kluis("bootstrap", database_url=database_url)
    assert (
        kluis("admin", "create-branch", "--code", "CPT01", "--name", "Cape Town", "--region", "Western Cape")[
            0
        ]
        == 0
    )
    code, out, _ = kluis(
        "admin", "create-user", "--username", "thandi", "--display-name", "Thandi M", "--branch", "CPT01",
        "--role", "teller", "--role", "supervisor",
    )  # fmt: skip
    assert code == 0
    assert "Created 'thandi' (supervisor, teller) in branch CPT01." in out
    assert CODE.search(out)

    listed = kluis("admin", "list", "--json")[1].splitlines()
    users = {json.loads(line)["username"]: json.loads(line) for line in listed}
    assert set(users) == {"admin", "thandi"}
    assert users["thandi"]["roles"] == ["supervisor", "teller"]
    assert users["thandi"]["enrollment_pending"] is True
    table = kluis("admin", "list", "--branch", "CPT01")[1]
    assert "thandi" in table
    assert "admin " not in table

    assert "disabled" in kluis("admin", "disable", "thandi")[1]
    assert "enabled" in kluis("admin", "enable", "THANDI")[1]
    code, out, _ = kluis("admin", "reset-mfa", "thandi")
    assert code == 0
    assert CODE.search(out)

    code, _, err = kluis("admin", "disable", "admin")
    assert code == EXIT_REFUSED
    assert "last active administrator" in err
    code, _, err = kluis("admin", "disable", "nobody")
    assert (code, err.strip()) == (EXIT_REFUSED, "kluis-server: no user named 'nobody'")
    code, _, err = kluis(
        "admin",
        "create-user",
        "--username",
        "x y",
        "--display-name",
        "X",
        "--branch",
        "CPT01",
        "--role",
        "teller",
    )
    assert code == EXIT_REFUSED
    assert "username" in err
    code, _, err = kluis("admin", "create-branch", "--code", "CPT01", "--name", "Again", "--region", "WC")
    assert (code, "exists" in err) == (EXIT_REFUSED, True)
    assert kluis("admin", "list-branches")[1].splitlines()[0].startswith("CPT01")


def test_admin_lists_and_revokes_devices(kluis, database_url, tmp_path):
    kluis("bootstrap", database_url=database_url)
    settings = settings_for(tmp_path, database_url)
    staff = provision(settings, "thandi", ("teller",))

    async def sign_in() -> uuid.UUID:
        context, database = context_for(settings)
        try:
            return (await service_sign_in(context, staff, Device(name="Desk 4"))).device.id
        finally:
            await database.dispose()

    device_id = asyncio.run(sign_in())
    listed = [
        json.loads(line)
        for line in kluis("admin", "list-devices", "--user", "thandi", "--json")[1].splitlines()
    ]
    assert [(item["id"], item["name"], item["active"]) for item in listed] == [
        (str(device_id), "Desk 4", True)
    ]
    assert "is revoked" in kluis("admin", "revoke-device", str(device_id))[1]
    assert "already revoked" in kluis("admin", "revoke-device", str(device_id))[1]
    assert "revoked" in kluis("admin", "list-devices")[1]
    code, _, err = kluis("admin", "revoke-device", str(uuid.uuid4()))
    assert code == EXIT_REFUSED
    assert "no device" in err


def test_demo_data_only_goes_into_a_demo_directory(kluis, database_url, tmp_path):
    code, _, err = kluis("demo-data", database_url=database_url)
    assert code == EXIT_REFUSED
    assert "is not a demo data directory" in err
    assert not (tmp_path / "DEMO-CREDENTIALS.txt").exists()
    kluis("bootstrap")
    code, _, err = kluis("demo-data", "--init")
    assert code == EXIT_REFUSED
    assert "already holds staff accounts" in err
    assert not (tmp_path / "DEMO").exists()


def parse_credentials(text: str) -> dict[str, dict[str, str]]:
    users: dict[str, dict[str, str]] = {}
    for block in text.split("\n\n"):
        fields = dict(line.split(":", 1) for line in block.splitlines() if ":" in line and line[0] != " ")
        fields = {key.strip(): value.strip() for key, value in fields.items()}
        if "Username" in fields:
            users[fields["Role"]] = fields
    return users


def test_demo_data_creates_one_enrolled_user_per_role_who_can_sign_in(kluis, empty_database_url, tmp_path):
    code, out, _ = kluis("demo-data", "--init", database_url=empty_database_url)
    assert code == 0
    assert (tmp_path / "DEMO").is_file()
    credentials = tmp_path / "DEMO-CREDENTIALS.txt"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    text = credentials.read_text()
    assert text.startswith("KLUIS DEMO CREDENTIALS - demonstration data only")
    assert text in out
    users = parse_credentials(text)
    assert set(users) == {
        "teller",
        "supervisor",
        "compliance_officer",
        "information_officer",
        "auditor",
        "admin",
    }

    async def sign_in_all() -> None:
        context, database = context_for(settings_for(tmp_path, empty_database_url))
        try:
            for role, fields in users.items():
                recovery = [code.strip() for code in fields["Recovery codes"].split(",")]
                assert len(recovery) == 10
                staff = Staff(
                    uuid.uuid4(),
                    fields["Username"],
                    fields["Password"],
                    fields["TOTP secret"],
                    recovery,
                    (role,),
                )
                grant = await service_sign_in(
                    context,
                    staff,
                    Device(),
                    code=totp.code_for_time(staff.totp_secret, dt.datetime.now(dt.UTC)),
                )
                assert grant.account.roles == (role,)
                assert grant.account.display_name.endswith("(demo)")
        finally:
            await database.dispose()

    asyncio.run(sign_in_all())
    assert f"{DEMO_CUSTOMERS} made-up demo customers in branch JHB01." in out

    async def demo_customers() -> tuple[list, list]:
        settings = settings_for(tmp_path, empty_database_url)
        if not empty_database_url.startswith("sqlite"):
            settings = settings.model_copy(
                update={"customer_key_database_url": f"sqlite:///{tmp_path / 'customer-keys.db'}"}
            )
        register = CustomerRegister.create(settings)
        await register.start()
        database = Database(settings.effective_database_url())
        try:
            async with database.transaction() as connection:
                rows = list(await connection.execute(select(customers)))
                records = await register.store.records(rows)
                created = list(
                    await connection.execute(
                        select(
                            audit_pending.c.object_id, audit_pending.c.actor, audit_pending.c.reason
                        ).where(audit_pending.c.action == "create")
                    )
                )
        finally:
            await database.dispose()
            await register.close()
        return records, created

    records, created = asyncio.run(demo_customers())
    assert len(records) == DEMO_CUSTOMERS
    assert len({record["branch_id"] for record in records}) == 1
    for record in records:
        fields = CustomerFields.model_validate(record["fields"])
        assert parse_sa_id(fields.id_number, dt.date.today()).date_of_birth == fields.date_of_birth
        assert fields.email.endswith("@example.com")
    assert {row.object_id for row in created} == {record["id"] for record in records}
    assert {row.reason for row in created} == {"demo_data"}
    code, out, _ = kluis("demo-data")
    assert code == 0
    assert "already present" in out


def test_the_real_command_runs_as_a_process(tmp_path, database_url):
    env = {key: value for key, value in os.environ.items() if not key.startswith("KLUIS_")}
    env["KLUIS_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "server.cli", "bootstrap", "--data-dir", str(tmp_path)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert first.returncode == 0, first.stderr
    assert CODE.search(first.stdout)
    second = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert second.returncode == EXIT_REFUSED
    assert CODE.search(first.stdout).group(1) not in first.stderr + second.stderr
