"""Redis and PostgreSQL for the tests that need the production shape (``eval "$(.ci/services.sh)"``).

Each check answers None when the service is usable, else the reason to skip (never an error: a machine
without them still runs the rest of the suite).
"""

from __future__ import annotations

import os

REDIS_URL = os.environ.get("REELDROP_TEST_REDIS_URL", "")
DATABASE_URL = os.environ.get("REELDROP_TEST_DATABASE_URL", "")


def redis_unreachable() -> str | None:
    if not REDIS_URL:
        return "REELDROP_TEST_REDIS_URL is not set (.ci/services.sh starts Redis)"
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        return f"Redis at REELDROP_TEST_REDIS_URL is not reachable: {type(exc).__name__}"
    return None


def postgres_unreachable() -> str | None:
    if not DATABASE_URL:
        return "REELDROP_TEST_DATABASE_URL is not set (.ci/services.sh starts PostgreSQL)"
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(DATABASE_URL, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as exc:
        return f"PostgreSQL at REELDROP_TEST_DATABASE_URL is not reachable: {type(exc).__name__}"
    return None
