"""Versioned local schema migrations.

A migration is a numbered step, ``Migration(version, name, apply)``, whose ``apply`` gets a
SQLAlchemy connection inside the transaction that also records it in ``schema_migrations``,
so a step is applied completely or not at all.  Steps are collected from the modules listed
in :mod:`console.vault.registry` and applied in version order, each once.  A database that
records a step this console does not know was written by a newer console and is refused."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from console.vault.errors import VaultTooNew
from console.vault.registry import MIGRATION_MODULES

OWN_MODULE_PREFIX = "console.vault."
OWN_VERSIONS = range(1, 100)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def collect(modules: Iterable[str] = MIGRATION_MODULES) -> tuple[Migration, ...]:
    """Every registered migration, in version order.  A clash or a version outside its
    module's range is a programming error and raises ``ValueError``."""
    found: dict[int, tuple[str, Migration]] = {}
    for module_name in modules:
        module = importlib.import_module(module_name)
        steps: Sequence[Migration] = module.MIGRATIONS
        for step in steps:
            own = module_name.startswith(OWN_MODULE_PREFIX)
            if own and step.version not in OWN_VERSIONS:
                raise ValueError(f"{module_name}: vault migrations use versions 1-99, not {step.version}")
            if not own and step.version < 100:
                raise ValueError(
                    f"{module_name}: migrations outside the vault start at 100, not {step.version}"
                )
            if step.version in found:
                raise ValueError(
                    f"{module_name} and {found[step.version][0]} both define migration {step.version}"
                )
            found[step.version] = (module_name, step)
    return tuple(step for _, step in sorted(found.values(), key=lambda item: item[1].version))


def applied_versions(engine: Engine) -> set[int]:
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
        )
        return {int(row[0]) for row in connection.execute(text("SELECT version FROM schema_migrations"))}


def migrate(
    engine: Engine,
    path: Path,
    steps: Sequence[Migration],
    *,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> list[int]:
    """Apply the steps not yet applied; returns their versions.  Refuses (before changing
    anything) a database that records steps this console does not know."""
    done = applied_versions(engine)
    unknown = sorted(done - {step.version for step in steps})
    if unknown:
        shown = ", ".join(str(version) for version in unknown[:5])
        raise VaultTooNew(path, f"it has local schema steps {shown} that this console does not know")
    applied = []
    for step in steps:
        if step.version in done:
            continue
        with engine.begin() as connection:
            step.apply(connection)
            connection.execute(
                text("INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, :n, :t)"),
                {"v": step.version, "n": step.name, "t": now().astimezone(dt.UTC).isoformat()},
            )
        applied.append(step.version)
    return applied
