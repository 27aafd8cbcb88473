"""Tokens (401s), ownership (404s) and the admin-only routes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import requests

from app.server.auth import token_hash
from app.server.db import Token, utcnow
from tests.support.files import random_file
from tests.support.servers import RunningServer, User


def test_sign_in_me_and_sign_out(server: RunningServer) -> None:
    user = server.add_user("alice-" + server.url[-5:], "a long password")
    me = user.call("GET", "/api/me")
    assert me.status_code == 200
    assert me.json()["username"] == user.username and me.json()["used_bytes"] == 0
    assert user.call("DELETE", "/api/auth/token").json() == {"revoked": True}
    after = user.call("GET", "/api/me")
    assert after.status_code == 401 and after.json()["code"] == "token_revoked"


def test_wrong_password_and_unknown_user_look_the_same(server: RunningServer, user: User) -> None:
    for body in ({"username": user.username, "password": "nope-nope"}, {"username": "ghost", "password": "x"}):
        answer = requests.post(f"{server.url}/api/auth/token", json=body, timeout=10)
        assert answer.status_code == 401 and answer.json()["code"] == "invalid_credentials"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_token"),
        ({"Authorization": "Bearer not-a-real-token"}, "invalid_token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_token"),
        ({"Authorization": "Bearer "}, "invalid_token"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/me"),
        ("POST", "/api/upload/presigned-url"),
        ("GET", "/api/jobs"),
        ("GET", "/api/upload/stats/overview"),
        ("POST", "/process/video/s3"),
    ],
)
def test_calls_without_a_valid_token_get_401(
    server: RunningServer, headers: dict, code: str, method: str, path: str
) -> None:
    answer = requests.request(method, f"{server.url}{path}", headers=headers, json={}, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["code"] == code
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_an_expired_token_gets_401(server: RunningServer, user: User) -> None:
    with server.services.db.session() as session:
        record = session.query(Token).filter_by(token_hash=token_hash(user.token)).one()
        record.expires_at = utcnow() - timedelta(seconds=1)
    answer = user.call("GET", "/api/me")
    assert answer.status_code == 401 and answer.json()["code"] == "token_expired"


def test_tokens_are_stored_hashed(server: RunningServer, user: User) -> None:
    with server.services.db.session() as session:
        hashes = [t.token_hash for t in session.query(Token).all()]
    assert user.token not in hashes and token_hash(user.token) in hashes


def _uploaded(user: User, tmp_path: Path) -> dict:
    path = tmp_path / "mine.mp4"
    random_file(path, 2048)
    data = user.call(
        "POST",
        "/api/upload/presigned-url",
        json={"filename": path.name, "file_size": 2048, "content_type": "video/mp4"},
    ).json()
    with open(path, "rb") as f:
        requests.post(data["upload_url"], data=data["upload_fields"], files={"file": f}, timeout=30)
    return data


def test_another_users_ids_answer_404(user: User, other_user: User, tmp_path: Path) -> None:
    data = _uploaded(user, tmp_path)
    upload_id = data["upload_id"]
    job = user.call("POST", "/api/upload/create-job", json={"upload_id": upload_id}).json()
    probes = [
        ("GET", f"/api/upload/{upload_id}", None),
        ("GET", f"/api/upload/{upload_id}/parts", None),
        ("POST", f"/api/upload/{upload_id}/parts", {"parts": [{"part_number": 1}]}),
        ("POST", f"/api/upload/{upload_id}/complete", {}),
        ("GET", f"/api/upload/{upload_id}/download", None),
        ("POST", f"/api/upload/{upload_id}/move-to-permanent", None),
        ("DELETE", f"/api/upload/{upload_id}", None),
        ("POST", "/api/upload/create-job", {"upload_id": upload_id}),
        ("POST", "/api/upload/create-job", {"job_id": data["job_id"], "s3_key": data["s3_key"]}),
        ("POST", "/process/video/s3", {"s3_key": data["s3_key"]}),
        ("GET", f"/api/jobs/{job['job_id']}", None),
        ("GET", f"/jobs/{job['job_id']}", None),
        ("POST", f"/api/jobs/{job['job_id']}/cancel", None),
    ]
    for method, path, body in probes:
        answer = other_user.call(method, path, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["code"] == "not_found"
    listing = other_user.call("GET", "/api/jobs").json()
    assert listing["total"] == 0 and listing["jobs"] == []
    stats = other_user.call("GET", "/api/upload/stats/overview").json()
    assert stats["total_bytes"] == 0
    # the owner still sees everything
    assert user.call("GET", f"/api/upload/{upload_id}").status_code == 200


def test_admin_routes_refuse_ordinary_users(user: User, admin: User) -> None:
    admin_routes = (
        ("POST", "/api/upload/cleanup-temp?hours=24"),
        ("GET", "/debug/jobs"),
        ("GET", "/debug/memory"),
        ("POST", "/debug/gc"),
    )
    for method, path in admin_routes:
        answer = user.call(method, path)
        assert answer.status_code == 403 and answer.json()["code"] == "admin_only"
        assert requests.request(method, f"{user.base_url}{path}", timeout=10).status_code == 401
        assert admin.call(method, path).status_code == 200


def test_the_debug_views_show_this_servers_memory_and_collect_garbage(admin: User) -> None:
    memory = admin.call("GET", "/debug/memory").json()
    assert memory["rss_bytes"] > 10 * 1024 * 1024 and memory["vms_bytes"] >= memory["rss_bytes"]
    assert memory["threads"] >= 2 and memory["gc"]["tracked_objects"] > 1000
    collected = admin.call("POST", "/debug/gc").json()
    assert collected["collected"] >= 0 and isinstance(collected["heap_trimmed"], bool)
    assert collected["rss_before_bytes"] > 0 and collected["rss_after_bytes"] > 0


def test_password_hashes_carry_their_parameters_and_are_renewed_at_sign_in(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 item 12: a hash of the first format (scrypt N=2^14, no parameters stored) still signs in,
    and is made again with today's parameters, stored beside it; a wrong password changes nothing."""
    import hashlib
    import secrets

    from app.server import auth
    from app.server.db import User as UserRow

    user = server.add_user()
    salt = secrets.token_bytes(16)
    legacy = hashlib.scrypt(user.password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    with server.services.db.session() as session:
        row = session.query(UserRow).filter_by(username=user.username).one()
        row.password_hash = f"scrypt${salt.hex()}${legacy.hex()}"
    monkeypatch.setenv(auth.SCRYPT_LOG_N_SETTING, "15")

    def stored() -> str:
        with server.services.db.session() as session:
            return session.query(UserRow).filter_by(username=user.username).one().password_hash

    def sign_in(password: str) -> int:
        body = {"username": user.username, "password": password}
        return requests.post(f"{server.url}/api/auth/token", json=body, timeout=30).status_code

    assert sign_in("wrong password") == 401 and stored() == f"scrypt${salt.hex()}${legacy.hex()}"
    assert sign_in(user.password) == 200
    renewed = stored()
    assert renewed.startswith("scrypt$ln=15,r=8,p=1$") and not auth.needs_rehash(renewed)
    assert sign_in(user.password) == 200 and stored() == renewed  # made once, then kept
    assert auth.verify_password(user.password, renewed) and not auth.verify_password("nope", renewed)
    for broken in ("scrypt$ln=99,r=8,p=1$00$00", "scrypt$zz$00", "bcrypt$x$y", ""):
        assert not auth.verify_password(user.password, broken)
