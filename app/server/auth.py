"""Users, passwords and bearer tokens. Tokens are random and stored only as SHA-256 hashes."""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import Token, User, utcnow
from .errors import ApiError

USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")

# Password hashes are scrypt with their parameters stored beside them: "scrypt$ln=16,r=8,p=1$<salt>$<hash>".
# A hash made with other parameters (or the first format, "scrypt$<salt>$<hash>", N=2^14) still verifies
# with its own, and is made again with today's at the next successful sign-in. hashlib's scrypt (OpenSSL)
# rather than argon2-cffi: no compiled dependency more in the desktop package that embeds this server.
SCRYPT_LOG_N_SETTING = "REELDROP_SCRYPT_LOG_N"  # cost: 16 = 64 MiB and ~0.2 s a hash here
DEFAULT_LOG_N = 16
_LEGACY = {"ln": 14, "r": 8, "p": 1}
_MIB = 1024 * 1024


def current_params() -> dict[str, int]:
    raw = os.environ.get(SCRYPT_LOG_N_SETTING, "").strip()
    log_n = int(raw) if raw.isdigit() and 10 <= int(raw) <= 20 else DEFAULT_LOG_N
    return {"ln": log_n, "r": 8, "p": 1}


def _scrypt(password: str, salt: bytes, params: dict[str, int]) -> bytes:
    n, r, p = 2 ** params["ln"], params["r"], params["p"]
    maxmem = 128 * r * n * p + 64 * _MIB  # OpenSSL refuses above 32 MiB unless told
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=maxmem)


def hash_password(password: str, params: dict[str, int] | None = None) -> str:
    params = params or current_params()
    salt = secrets.token_bytes(16)
    encoded = ",".join(f"{name}={params[name]}" for name in ("ln", "r", "p"))
    return f"scrypt${encoded}${salt.hex()}${_scrypt(password, salt, params).hex()}"


def _parse(stored: str) -> tuple[dict[str, int], bytes, str] | None:
    parts = stored.split("$")
    try:
        if len(parts) == 3 and parts[0] == "scrypt":
            return dict(_LEGACY), bytes.fromhex(parts[1]), parts[2]
        if len(parts) == 4 and parts[0] == "scrypt":
            params = {k: int(v) for k, v in (item.split("=") for item in parts[1].split(","))}
            if set(params) == {"ln", "r", "p"} and 1 <= params["ln"] <= 20 and 1 <= params["r"] * params["p"] <= 64:
                return params, bytes.fromhex(parts[2]), parts[3]
    except ValueError:
        return None
    return None


def verify_password(password: str, stored: str) -> bool:
    parsed = _parse(stored)
    if parsed is None:
        return False
    params, salt, digest_hex = parsed
    return hmac.compare_digest(_scrypt(password, salt, params).hex(), digest_hex)


def needs_rehash(stored: str) -> bool:
    """A hash made with other parameters than today's (or in the first format)."""
    parsed = _parse(stored)
    return parsed is None or stored.count("$") != 3 or parsed[0] != current_params()


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: nobody brute-forces that.
    return hashlib.sha256(token.encode()).hexdigest()


def validate_username(name: str) -> str:
    name = name.strip()
    if not (1 <= len(name) <= 64) or not set(name) <= USERNAME_CHARS:
        raise ValueError("a username is 1-64 characters of letters, digits and . _ - @")
    return name


def create_user(session: Session, username: str, password: str, quota_bytes: int, is_admin: bool) -> User:
    username = validate_username(username)
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    if session.scalar(select(User).where(User.username == username)):
        raise ValueError(f"user {username!r} already exists")
    user = User(
        username=username,
        password_hash=hash_password(password),
        quota_bytes=quota_bytes,
        is_admin=is_admin,
    )
    session.add(user)
    session.flush()
    return user


def issue_token(session: Session, user: User, ttl_seconds: int) -> tuple[str, int]:
    token = secrets.token_urlsafe(32)
    session.add(
        Token(
            user_id=user.id,
            token_hash=token_hash(token),
            expires_at=utcnow() + timedelta(seconds=ttl_seconds),
        )
    )
    return token, ttl_seconds


def login(session: Session, username: str, password: str, ttl_seconds: int) -> tuple[str, int]:
    user = session.scalar(select(User).where(User.username == username))
    # Verify against a dummy hash for unknown users so timing does not reveal who exists.
    stored = user.password_hash if user else _dummy_hash()
    if not verify_password(password, stored) or user is None:
        raise ApiError(401, "invalid_credentials", "Wrong username or password.")
    if needs_rehash(user.password_hash):  # only now is the password at hand: today's parameters from here on
        user.password_hash = hash_password(password)
    return issue_token(session, user, ttl_seconds)


def user_for_token(session: Session, token: str) -> tuple[User, Token]:
    record = session.scalar(select(Token).where(Token.token_hash == token_hash(token)))
    if record is None:
        raise ApiError(401, "invalid_token", "The access token is not valid. Sign in again.")
    if record.revoked_at is not None:
        raise ApiError(401, "token_revoked", "The access token was revoked. Sign in again.")
    if record.expires_at <= utcnow():
        raise ApiError(401, "token_expired", "The access token has expired. Sign in again.")
    return record.user, record


def revoke(record: Token) -> None:
    record.revoked_at = utcnow()


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_hex(8))
