"""The modules whose local schema migrations the vault applies, in one place.

Each module named here defines ``MIGRATIONS``: a sequence of
:class:`console.vault.migrations.Migration`.  The vault's own tables use versions 1 to 99;
every other module uses 100 and up.  To add tables to the vault, write such a module and
add one line here."""

from __future__ import annotations

MIGRATION_MODULES: tuple[str, ...] = ("console.vault.schema", "console.sync.schema", "console.audit.schema")
