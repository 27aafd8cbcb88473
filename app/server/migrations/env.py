"""Alembic's environment: the server hands over its own connection (app/server/schema.py); the developers'
`alembic` command connects to the database the server's settings name."""

from __future__ import annotations

from alembic import context

from app.server.db import Base

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic …` from a shell
    from sqlalchemy import create_engine

    from app.server.config import load_config

    with create_engine(load_config().database_url).connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    # render_as_batch: SQLite alters a table by copying it, which Alembic's batch mode does for us.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
