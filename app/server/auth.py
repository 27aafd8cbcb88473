"""Users, passwords and bearer tokens. Tokens are random and stored only as SHA-256 hashes."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import Token, User, utcnow
from .errors import ApiError

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


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
