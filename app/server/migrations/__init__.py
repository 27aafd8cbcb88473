"""The server database's migrations (Alembic): each release's changes to the tables, applied at start-up.

``reeldrop-server``, its workers and "This computer" call ``app.server.schema.upgrade_database`` when they
start; it brings a database of any earlier release to ``HEAD`` (one made before migrations existed first
counts as the first release). To change a table: change the model in ``app/server/db.py``, then add a
revision here (``alembic -c app/server/migrations/alembic.ini revision -m "what changed"``, written by hand
or with ``--autogenerate`` against a database at head), set ``HEAD`` to it, and run
``tests/server/test_migrations.py``: it fails while the models and the migrations disagree.
"""

HEAD = "0002"
"""The newest revision. At start-up a database already here is recognised without importing Alembic."""
