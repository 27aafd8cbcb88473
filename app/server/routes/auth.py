"""Sign in, sign out, who am I."""

from __future__ import annotations

import asyncio
import math

from fastapi import APIRouter, Request

from .. import auth
from ..answers import Me, SignedOut, TokenAnswer
from ..errors import ApiError
from ..services import CallerDep, Services, ServicesDep, SessionDep
from ..uploads_service import used_bytes
from .schemas import LoginRequest

router = APIRouter(tags=["auth"])


@router.post("/api/auth/token")
async def sign_in(body: LoginRequest, request: Request, svc: ServicesDep) -> TokenAnswer:
    """A token for a username and password. Wrong passwords back off (login_throttle.py): 429 with
    Retry-After, before any hashing; the hashing itself runs a few at a time in its own pool."""
    address = request.client.host if request.client else "unknown"
    wait = svc.login_throttle.retry_after(body.username, address)
    if wait > 0:
        seconds = math.ceil(wait)
        raise ApiError(
            429,
            "too_many_attempts",
            f"Too many wrong passwords: try again in {seconds} s.",
            {"Retry-After": str(seconds)},
        )
    loop = asyncio.get_running_loop()
    try:
        token, ttl = await loop.run_in_executor(svc.hashing, _sign_in, svc, body.username, body.password)
    except ApiError as refusal:
        if refusal.code == "invalid_credentials":
            svc.login_throttle.failed(body.username, address)
        raise
    svc.login_throttle.succeeded(body.username)
    return {"access_token": token, "token_type": "bearer", "expires_in": ttl}


def _sign_in(svc: Services, username: str, password: str) -> tuple[str, int]:
    with svc.db.session() as session:
        return auth.login(session, username, password, svc.config.token_ttl_seconds)


@router.delete("/api/auth/token")
def sign_out(caller: CallerDep) -> SignedOut:
    auth.revoke(caller.token)
    return {"revoked": True}


@router.get("/api/me")
def me(caller: CallerDep, session: SessionDep) -> Me:
    user = caller.user
    return {
        "username": user.username,
        "is_admin": user.is_admin,
        "quota_bytes": user.quota_bytes,
        "used_bytes": used_bytes(session, user),
    }
