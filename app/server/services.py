"""What a running server holds: config, database, object store, job queue. Built once in create_app."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Protocol

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from .auth import user_for_token
from .config import ServerConfig
from .db import Database, Token, User
from .errors import ApiError
from .login_throttle import LoginThrottle
from .signing import ReplayGuard
from .storage import ObjectStore

HASHING_THREADS = max(1, min(4, (os.cpu_count() or 2) // 2))

if TYPE_CHECKING:
    from collections.abc import Iterator


class JobQueue(Protocol):
    def enqueue(self, job_id: str) -> None: ...

    def cancel(self, job_id: str) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Services:
    config: ServerConfig
    db: Database
    store: ObjectStore
    queue: JobQueue
    closers: list = field(default_factory=list)
    replays: ReplayGuard = field(default_factory=ReplayGuard)  # worker callbacks already taken
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    # Password hashing (scrypt, ~50 ms of a core each) runs here, a few at a time: a flood of sign-ins
    # waits in this pool's queue instead of taking every thread that serves the other routes.
    hashing: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(HASHING_THREADS, thread_name_prefix="reeldrop-hash")
    )


def services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(services)]


def db_session(svc: ServicesDep) -> Iterator[Session]:
    """One session per request. Routes use it with scope="function" so the commit happens before the
    answer is sent: a client that acts on the answer at once (a new token, a new upload) must see it."""
    with svc.db.session() as session:
        yield session


# scope="function": the session closes (and commits) before the answer is sent, see db_session.
SessionDep = Annotated[Session, Depends(db_session, scope="function")]


@dataclass
class Caller:
    user: User
    token: Token
    raw_token: str


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise ApiError(401, "missing_token", "Sign in first: this call needs an access token.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "invalid_token", "The Authorization header must be 'Bearer <token>'.")
    return token.strip()


def current_caller(session: SessionDep, authorization: Annotated[str | None, Header()] = None) -> Caller:
    raw = bearer_token(authorization)
    user, token = user_for_token(session, raw)
    return Caller(user=user, token=token, raw_token=raw)


CallerDep = Annotated[Caller, Depends(current_caller)]


def current_user(caller: CallerDep) -> User:
    return caller.user


CurrentUser = Annotated[User, Depends(current_user)]


def admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise ApiError(403, "admin_only", "Only an administrator can do this.")
    return user


AdminUser = Annotated[User, Depends(admin_user)]
