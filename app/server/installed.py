"""Is the server installed? `pip install reeldrop` is the command line alone; the server is the `server` extra.

Asked before anything imports FastAPI or SQLAlchemy, so a missing piece is one sentence naming the command
that installs it, not a traceback (or, for "This computer", a child process that dies while starting).
Standard library only.
"""

from __future__ import annotations

import importlib.util

# What the server imports that a plain `pip install reeldrop` lacks (zipstream is zipstream-ng's module).
SERVER_PACKAGES = (
    "fastapi",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "pydantic_settings",
    "huey",
    "zipstream",
    "pysubs2",
    "boto3",
)
INSTALL_SERVER = "pip install 'reeldrop[server]'"


def missing_server_packages() -> list[str]:
    return [name for name in SERVER_PACKAGES if importlib.util.find_spec(name) is None]


def server_missing_sentence(what: str, missing: list[str]) -> str:
    verb = "is" if len(missing) == 1 else "are"
    return f"{what} is not installed ({', '.join(missing)} {verb} missing): `{INSTALL_SERVER}`."
