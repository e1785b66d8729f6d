"""``kluis-server bootstrap``, ``admin ...`` and ``demo-data``: account administration from the
server's command line, for the first administrator and for break-glass work.

Each command runs in one database transaction, records security events with source ``cli``
and prints what the operator needs (an enrollment code is shown once, here)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from server.auth import accounts, demo
from server.auth.accounts import AccountError, Actor
from server.auth.api_models import DeviceOut, UserOut
from server.auth.devices import Device, get_device, list_devices, revoke_device
from server.auth.keystore import ServerKeys
from server.auth.mfa import MfaCipher
from server.auth.passwords import Argon2Hasher, Argon2Parameters
from server.auth.permissions import Role
from server.auth.security_events import EventKind, SecurityEvent, Source, record
from server.config import Settings
from server.customers.demo import DemoBranch, create_demo_customers
from server.customers.service import CustomerRegister
from server.db.engine import Database
from server.db.migrate import require_head, upgrade_to_head
from server.files import write_private_file

T = TypeVar("T")


class CommandRefused(Exception):
    """The command cannot do what was asked; the message says why and what to do."""


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: Callable[..., None]
) -> None:
    bootstrap = commands.add_parser(
        "bootstrap", help="create the first administrator and print a one-time enrollment code"
    )
    common(bootstrap)
    bootstrap.add_argument("--username", default="admin", help="the administrator's username [admin]")
    bootstrap.add_argument("--display-name", default="Administrator", help="the name shown in the console")
    bootstrap.add_argument(
        "--branch-code", default="HO", help="branch of the administrator, created if new [HO]"
    )
    bootstrap.add_argument("--branch-name", default="Head Office", help="name of a new branch")
    bootstrap.add_argument("--region", default="Gauteng", help="region of a new branch")

    admin = commands.add_parser("admin", help="manage staff accounts, devices and branches")
    actions = admin.add_subparsers(dest="action", required=True, metavar="ACTION")

    create_user = actions.add_parser("create-user", help="create an account; prints its enrollment code")
    common(create_user)
    create_user.add_argument("--username", required=True)
    create_user.add_argument("--display-name", required=True)
    create_user.add_argument("--branch", required=True, help="branch code, e.g. JHB01")
    create_user.add_argument(
        "--role",
        action="append",
        required=True,
        choices=[role.value for role in Role],
        help="a role; repeat for several",
    )
    for name, text in (
        ("disable", "disable an account: its sessions end at once"),
        ("enable", "enable a disabled account"),
        ("reset-mfa", "forget an account's password and MFA; prints a new enrollment code"),
    ):
        action = actions.add_parser(name, help=text)
        common(action)
        action.add_argument("username")
    list_users = actions.add_parser("list", help="list accounts")
    common(list_users)
    list_users.add_argument("--branch", help="only this branch code")
    list_users.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    revoke = actions.add_parser(
        "revoke-device", help="revoke a device: its sessions end, it must wipe itself"
    )
    common(revoke)
    revoke.add_argument("device_id", type=uuid.UUID)
    devices = actions.add_parser("list-devices", help="list enrolled devices")
    common(devices)
    devices.add_argument("--user", help="only this username's devices")
    devices.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    create_branch = actions.add_parser("create-branch", help="create a branch")
    common(create_branch)
    create_branch.add_argument("--code", required=True)
    create_branch.add_argument("--name", required=True)
    create_branch.add_argument("--region", required=True)
    list_branches = actions.add_parser("list-branches", help="list branches")
    common(list_branches)

    demo_data = commands.add_parser(
        "demo-data",
        help="create demo branches and one enrolled demo user per role (demo data directories only)",
    )
    common(demo_data)
    demo_data.add_argument(
        "--init",
        action="store_true",
        help="mark a fresh data directory as a demo one first (and migrate its database)",
    )


async def _with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    database = Database(settings.effective_database_url())
    try:
        await require_head(database)
        return await work(database)
    finally:
        await database.dispose()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _enrollment_lifetime(settings: Settings) -> dt.timedelta:
    return dt.timedelta(hours=settings.enrollment_code_hours)


def _print_code(code: accounts.EnrollmentCode) -> None:
    print(f"One-time enrollment code: {code.code}")
    print(f"Valid until {code.expires_at.isoformat(timespec='seconds')}. Give it to the user in person;")
    print("the console asks for it at first sign-in, with a new password and an authenticator app.")


async def _account(connection: AsyncConnection, username: str) -> accounts.Account:
    account = await accounts.account_by_username(connection, username)
    if account is None:
        raise CommandRefused(f"no user named {accounts.normalise_username(username)!r}")
    return account


def run_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.command == "bootstrap":
            return asyncio.run(
                _with_database(settings, lambda database: _bootstrap(settings, args, database))
            )
        if args.command == "demo-data":
            return asyncio.run(_demo_data(settings, init=args.init))
        return asyncio.run(_with_database(settings, lambda database: _admin(settings, args, database)))
    except AccountError as error:
        raise CommandRefused(error.message) from None


async def _bootstrap(settings: Settings, args: argparse.Namespace, database: Database) -> int:
    now = _now()
    actor = Actor.cli()
    async with database.transaction(write=True) as connection:
        if await accounts.count_admins(connection):
            raise CommandRefused(
                "an administrator already exists; use `kluis-server admin create-user` "
                "or ask an administrator to add accounts in the console"
            )
        branch = await accounts.branch_by_code(connection, args.branch_code)
        if branch is None:
            branch = await accounts.create_branch(
                connection,
                code=args.branch_code,
                name=args.branch_name,
                region=args.region,
                actor=actor,
                now=now,
            )
        account, code = await accounts.create_account(
            connection,
            username=args.username,
            display_name=args.display_name,
            branch_id=branch.id,
            roles=[Role.ADMIN.value],
            enrollment_lifetime=_enrollment_lifetime(settings),
            actor=actor,
            now=now,
        )
    print(f"Created administrator {account.username!r} in branch {branch.code}.")
    _print_code(code)
    return 0


async def _admin(settings: Settings, args: argparse.Namespace, database: Database) -> int:
    now = _now()
    actor = Actor.cli()
    action = args.action
    async with database.transaction(
        write=action not in {"list", "list-devices", "list-branches"}
    ) as connection:
        if action == "create-user":
            branch = await accounts.branch_by_code(connection, args.branch)
            if branch is None:
                raise CommandRefused(
                    f"no branch with code {args.branch!r}; see `kluis-server admin list-branches`"
                )
            account, code = await accounts.create_account(
                connection,
                username=args.username,
                display_name=args.display_name,
                branch_id=branch.id,
                roles=args.role,
                enrollment_lifetime=_enrollment_lifetime(settings),
                actor=actor,
                now=now,
            )
            print(f"Created {account.username!r} ({', '.join(account.roles)}) in branch {branch.code}.")
            _print_code(code)
        elif action in {"disable", "enable"}:
            account = await _account(connection, args.username)
            if (
                action == "disable"
                and account.active
                and Role.ADMIN.value in account.roles
                and await accounts.count_active_admins(connection) <= 1
            ):
                raise CommandRefused("this is the last active administrator; enable or create another first")
            account = await accounts.set_active(
                connection, account.id, action == "enable", actor=actor, now=now
            )
            state = "enabled" if account.active else "disabled; its sessions have ended"
            print(f"{account.username!r} is {state}.")
        elif action == "reset-mfa":
            account = await _account(connection, args.username)
            code = await accounts.reset_mfa(
                connection,
                account.id,
                enrollment_lifetime=_enrollment_lifetime(settings),
                actor=actor,
                now=now,
            )
            print(f"{account.username!r} must enroll again; their sessions have ended.")
            _print_code(code)
        elif action == "list":
            branch_id = None
            if args.branch:
                branch = await accounts.branch_by_code(connection, args.branch)
                if branch is None:
                    raise CommandRefused(f"no branch with code {args.branch!r}")
                branch_id = branch.id
            _print_accounts(await accounts.list_accounts(connection, branch_id=branch_id), as_json=args.json)
        elif action == "list-devices":
            user_id = (await _account(connection, args.user)).id if args.user else None
            _print_devices(await list_devices(connection, user_id), as_json=args.json)
        elif action == "revoke-device":
            device = await get_device(connection, args.device_id)
            if device is None:
                raise CommandRefused(f"no device {args.device_id}")
            if await revoke_device(connection, device.id, actor_id=None, now=now):
                await record(
                    connection,
                    SecurityEvent(
                        EventKind.DEVICE_REVOKED,
                        user_id=device.user_id,
                        device_id=device.id,
                        source=Source.CLI,
                    ),
                    now,
                )
                print(f"Device {device.id} ({device.name}) is revoked; its sessions have ended.")
            else:
                print(f"Device {device.id} ({device.name}) was already revoked.")
        elif action == "create-branch":
            branch = await accounts.create_branch(
                connection, code=args.code, name=args.name, region=args.region, actor=actor, now=now
            )
            print(f"Created branch {branch.code} ({branch.name}, {branch.region}).")
        elif action == "list-branches":
            for branch in await accounts.list_branches(connection):
                print(f"{branch.code:<8} {branch.name}  [{branch.region}]")
        else:
            raise AssertionError(f"unhandled admin action {action}")
    return 0


def _print_accounts(found: list[accounts.Account], *, as_json: bool) -> None:
    if as_json:
        for account in found:
            print(UserOut.of(account).model_dump_json())
        return
    print(f"{'USERNAME':<24} {'BRANCH':<8} {'STATE':<9} {'MFA':<9} ROLES")
    for account in found:
        state = "active" if account.active else "disabled"
        mfa = "enrolled" if account.mfa_enrolled else "pending"
        print(
            f"{account.username:<24} {account.branch.code:<8} {state:<9} {mfa:<9} {','.join(account.roles)}"
        )


def _print_devices(found: list[Device], *, as_json: bool) -> None:
    if as_json:
        for device in found:
            print(DeviceOut.of(device).model_dump_json())
        return
    print(f"{'DEVICE':<36} {'USER':<36} {'STATE':<8} NAME")
    for device in found:
        state = "active" if device.active else "revoked"
        print(f"{device.id!s:<36} {device.user_id!s:<36} {state:<8} {device.name}")


async def _demo_data(settings: Settings, *, init: bool) -> int:
    data_dir = settings.data_dir
    url = settings.effective_database_url()
    if init:
        data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(upgrade_to_head, url)
    database = Database(url)
    try:
        await require_head(database)
        async with database.transaction(write=True) as connection:
            marked = await demo.database_is_demo(connection)
            if init and not marked:
                if await accounts.list_accounts(connection):
                    raise CommandRefused(
                        "this database already holds staff accounts; demo data goes only into a fresh "
                        "installation (use another --data-dir)"
                    )
                await demo.mark_database_demo(connection, _now())
                marked = True
            if init:
                demo.mark_demo_directory(data_dir)
        if not (demo.is_demo_directory(data_dir) and marked):
            raise CommandRefused(
                f"{data_dir} is not a demo data directory; demo data is written only where "
                f"`kluis-server demo-data --init` made one (a {demo.DEMO_MARKER} file and a marked database)"
            )
        async with database.transaction() as connection:
            existing = [
                username
                for username, *_ in demo.DEMO_USERS
                if await accounts.account_by_username(connection, username)
            ]
        if existing:
            print(f"Demo data is already present; the credentials are in {data_dir / demo.CREDENTIALS_FILE}.")
            return 0
        keys = ServerKeys.load(settings)
        hasher = Argon2Hasher(Argon2Parameters.from_settings(settings))
        passwords = {username: demo.demo_password() for username, *_ in demo.DEMO_USERS}
        hashes = {username: await hasher.hash(password) for username, password in passwords.items()}
        async with database.transaction(write=True) as connection:
            created = await demo.create_demo_users(
                connection,
                password_hashes=hashes,
                passwords=passwords,
                cipher=MfaCipher(keys.mfa),
                now=_now(),
            )
            teller = await accounts.account_by_username(connection, demo.DEMO_TELLER)
        assert teller is not None
        register = CustomerRegister.create(settings)
        await register.start()
        try:
            customers = await create_demo_customers(
                database,
                register,
                [DemoBranch(teller.branch.code, teller.branch.id, teller.id)],
                per_branch=demo.DEMO_CUSTOMERS,
                now=_now(),
            )
        finally:
            await register.close()
    finally:
        await database.dispose()
    host, port = settings.listen_address
    text = demo.credentials_text(
        created, f"https://{'localhost' if host in {'127.0.0.1', '::1'} else host}:{port}"
    )
    write_private_file(data_dir / demo.CREDENTIALS_FILE, text.encode())
    print(text)
    print(f"Written to {data_dir / demo.CREDENTIALS_FILE}.")
    print(f"{customers} made-up demo customers in branch {teller.branch.code}.")
    return 0
