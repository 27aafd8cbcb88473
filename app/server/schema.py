"""Bring the server's database to this release's tables at start-up, with Alembic (app/server/migrations).

Every process that opens the database calls ``upgrade_database`` first: ``reeldrop-server``, each
``reeldrop-server worker`` and "This computer". On PostgreSQL they may start at the same moment, so the
upgrade runs under an advisory lock and each re-reads the revision once it holds it: one upgrades, the others
find the database at head. A database made before migrations existed (tables, no ``alembic_version``) is
the first release's and is brought forward from there. One written by a newer release stops the start with
a sentence: an older server must not write into tables it does not know.

A database already at head (every start but the first after an update) is recognised with one query,
without importing Alembic (0.13 s of "This computer"'s start-up).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

from app.server.migrations import HEAD

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
FIRST_RELEASE = "0001"
_LOCK_KEY = 0x7265656C  # any constant shared by every ReelDrop process ("reel")


class DatabaseTooNew(RuntimeError):
    pass


def current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade_database(engine: Engine) -> None:
    with engine.connect() as connection:
        if current_revision(connection) == HEAD:
            return
        connection.rollback()
        postgres = engine.dialect.name == "postgresql"
        if postgres:  # held until this connection ends; the others wait here
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
            connection.commit()
        try:
            _upgrade(connection, engine)
        finally:
            if postgres:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
                connection.commit()


def _upgrade(connection: Connection, engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    found = current_revision(connection)
    connection.rollback()
    if found == HEAD:
        return  # another process upgraded it while this one waited for the lock
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if found is not None and found not in known:
        raise DatabaseTooNew(
            f"The database ({engine.url.render_as_string(hide_password=True)}) was written by a newer ReelDrop "
            f"server (revision {found}; this one knows up to {HEAD}). Update ReelDrop; nothing was changed."
        )
    if found is None and inspect(connection).has_table("jobs"):
        log.info("database made before migrations: taken as revision %s", FIRST_RELEASE)
        command.stamp(config, FIRST_RELEASE)
        connection.commit()
    log.info("upgrading the database from revision %s to %s", found or "(empty)", HEAD)
    command.upgrade(config, "head")
    connection.commit()
