"""Issue 16 item 8: the server's database has migrations (Alembic, app/server/migrations), on SQLite and on
PostgreSQL. A new database gets exactly the tables the models describe; one made by the first release, or
before migrations existed with some columns added by hand at start-up, keeps every row and gains the rest;
one from a newer release is refused untouched; several processes starting at once upgrade it once."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine, make_url

from app.server.db import Base, Database
from app.server.migrations import HEAD
from app.server.schema import MIGRATIONS, DatabaseTooNew, current_revision, upgrade_database
from tests.support.shared_services import DATABASE_URL, postgres_unreachable


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind: a SQLite file, or a PostgreSQL schema of its own (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'server.sqlite3'}"
        return
    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    schema = f"migrations_{secrets.token_hex(4)}"
    admin = create_engine(DATABASE_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield (
            make_url(DATABASE_URL)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def columns(engine: Engine, table: str) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns(table)}


def test_head_is_the_one_newest_revision() -> None:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD]


def test_a_new_database_gets_exactly_the_tables_of_the_models(url: str) -> None:
    database = Database(url)
    try:
        database.create_all()
        assert differences(database.engine) == []  # the migrations and db.py describe the same tables
        with database.engine.connect() as connection:
            assert current_revision(connection) == HEAD
        database.create_all()  # a second start finds it at head
    finally:
        database.dispose()


FIRST_RELEASE_ROWS = [
    "INSERT INTO users (id, username, password_hash, is_admin, quota_bytes, created_at)"
    " VALUES (7, 'alice', 'scrypt$x', false, 1000, '2026-01-02 03:04:05')",
    "INSERT INTO uploads (id, user_id, filename, content_type, declared_size, s3_key, method, status, is_temp,"
    " reserved_job_id, created_at, updated_at) VALUES ('u-1', 7, 'clip.mp4', 'video/mp4', 10, 'temp/7/u-1/clip.mp4',"
    " 'POST', 'uploaded', true, 'j-1', '2026-01-02 03:04:05', '2026-01-02 03:04:05')",
    "INSERT INTO jobs (id, user_id, upload_id, s3_key, status, progress, options, cancel_requested, created_at,"
    " updated_at) VALUES ('j-1', 7, 'u-1', 'temp/7/u-1/clip.mp4', 'completed', 100, '{}', false,"
    " '2026-01-02 03:04:05', '2026-01-02 03:04:05')",
]


def first_release_database(url: str, *, without_migrations: bool, some_columns_added: bool = False) -> Engine:
    """The tables exactly as the first release made them, with a user, an upload and a job; optionally as
    releases before migrations left them (no alembic_version, a column or two added at start-up)."""
    from alembic import command
    from alembic.config import Config

    engine = create_engine(url)
    with engine.connect() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        for statement in FIRST_RELEASE_ROWS:
            connection.execute(text(statement))
        if without_migrations:
            connection.execute(text("DROP TABLE alembic_version"))
        if some_columns_added:
            connection.execute(text("ALTER TABLE uploads ADD COLUMN streaming BOOLEAN DEFAULT '0'"))
            connection.execute(text("ALTER TABLE jobs ADD COLUMN worker_id VARCHAR(128)"))
        connection.commit()
    return engine


@pytest.mark.parametrize(("without_migrations", "some_columns_added"), [(False, False), (True, False), (True, True)])
def test_an_older_database_keeps_every_row_and_gains_the_new_columns(
    url: str, without_migrations: bool, some_columns_added: bool
) -> None:
    engine = first_release_database(url, without_migrations=without_migrations, some_columns_added=some_columns_added)
    try:
        assert "worker_losses" not in columns(engine, "jobs")
        upgrade_database(engine)
        upgrade_database(engine)  # twice: the second finds it at head and changes nothing
        assert {"streaming"} <= columns(engine, "uploads")
        assert {"worker_id", "heartbeat_at", "heartbeat_timeout_s", "worker_losses"} <= columns(engine, "jobs")
        with engine.connect() as connection:
            assert current_revision(connection) == HEAD
            job = connection.execute(text("SELECT status, worker_losses, upload_id FROM jobs")).one()
            upload = connection.execute(text("SELECT filename, streaming FROM uploads")).one()
        assert tuple(job) == ("completed", 0, "u-1") and upload[0] == "clip.mp4" and not upload[1]
    finally:
        engine.dispose()


def test_a_database_from_a_newer_release_is_refused_untouched(url: str) -> None:
    engine = create_engine(url)
    try:
        upgrade_database(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
        with pytest.raises(DatabaseTooNew) as refused:
            upgrade_database(engine)
        assert "newer ReelDrop server (revision 0099" in str(refused.value) and "nothing was changed" in str(
            refused.value
        )
        assert "password" not in str(refused.value)
        with engine.connect() as connection:
            assert current_revision(connection) == "0099"
    finally:
        engine.dispose()


def test_processes_starting_together_upgrade_it_once(url: str) -> None:
    if url.startswith("sqlite"):
        pytest.skip("several processes share a database on PostgreSQL; This computer is one process")
    engine = first_release_database(url, without_migrations=True)
    failures: list[BaseException] = []

    def start() -> None:
        own = create_engine(url)
        try:
            upgrade_database(own)
        except BaseException as error:
            failures.append(error)
        finally:
            own.dispose()

    starters = [threading.Thread(target=start) for _ in range(4)]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join(60)
    try:
        assert failures == [] and not any(starter.is_alive() for starter in starters)
        with engine.connect() as connection:
            assert current_revision(connection) == HEAD
        assert differences(engine) == []
    finally:
        engine.dispose()
