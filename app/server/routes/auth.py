"""Sign in, sign out, who am I."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from .. import auth
from ..services import Caller, Services, current_caller, db_session, services
from ..uploads_service import used_bytes
from .schemas import LoginRequest

router = APIRouter(tags=["auth"])


@router.post("/api/auth/token")
def sign_in(
    body: LoginRequest,
    session: Session = Depends(db_session, scope="function"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    token, ttl = auth.login(session, body.username, body.password, svc.config.token_ttl_seconds)
    return {"access_token": token, "token_type": "bearer", "expires_in": ttl}


@router.delete("/api/auth/token")
def sign_out(caller: Caller = Depends(current_caller)) -> dict[str, Any]:
    auth.revoke(caller.token)
    return {"revoked": True}


@router.get("/api/me")
def me(
    caller: Caller = Depends(current_caller), session: Session = Depends(db_session, scope="function")
) -> dict[str, Any]:
    user = caller.user
    return {
        "username": user.username,
        "is_admin": user.is_admin,
        "quota_bytes": user.quota_bytes,
        "used_bytes": used_bytes(session, user),
    }
