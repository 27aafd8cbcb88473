"""`reeldrop login` / `logout` as subprocesses (RELIABILITY.md 18): with no keyring the token stays in
memory and nothing secret reaches the disk; with a real Secret Service, logout deletes the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.connect import COMMAND_LINE_PROFILE
from app.core.credentials import SERVICE, account_name
from tests.support.cli import Cli
from tests.support.keyring_env import files_containing, secret_service_items, secret_service_problem
from tests.support.servers import RunningServer

FAIL_BACKEND = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def _cli(tmp_path: Path, env: dict[str, str]) -> Cli:
    home = tmp_path / "user-home"
    home.mkdir()
    # HOME too: a file-based keyring (or anything else) would write under it.
    return Cli(tmp_path / "reeldrop-home", extra_env={"HOME": str(home), "XDG_DATA_HOME": str(home / "data"), **env})


def test_login_without_a_keyring_warns_keeps_memory_only_and_writes_no_secret(tmp_path, server: RunningServer):
    user = server.add_user(password="a long enough secret")
    cli = _cli(tmp_path, FAIL_BACKEND)
    done = cli.run(
        "login", "--server", server.url, "--username", user.username, "--password-stdin", "--print-token",
        stdin=user.password + "\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    assert len(token) >= 20
    assert "no usable keyring" in done.stderr and "memory only" in done.stderr and "REELDROP_TOKEN" in done.stderr
    assert "nothing was written to disk" in done.stderr
    for secret in (token, user.password):
        assert files_containing(secret, tmp_path) == []
    # The printed token works for scripts.
    assert user.call("GET", "/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_login_without_a_keyring_and_no_print_revokes_the_orphan_token(tmp_path, server: RunningServer):
    user = server.add_user(password="another secret value")
    cli = _cli(tmp_path, FAIL_BACKEND)
    done = cli.run(
        "login", "--server", server.url, "--username", user.username, "--password-stdin", stdin=user.password + "\n"
    )
    assert done.returncode == 0 and "was not kept" in done.stdout
    assert files_containing(user.password, tmp_path) == []
    logout = cli.run("logout", "--server", server.url)
    assert logout.returncode == 0 and "Not signed in" in logout.stdout


def test_a_wrong_password_is_one_clear_line(tmp_path, server: RunningServer):
    user = server.add_user()
    done = _cli(tmp_path, FAIL_BACKEND).run(
        "login", "--server", server.url, "--username", user.username, "--password-stdin", stdin="wrong\n"
    )
    assert done.returncode == 1 and "wrong user name or password" in done.stderr


def test_login_then_logout_with_a_real_secret_service(tmp_path, server: RunningServer):
    problem = secret_service_problem()
    if problem:
        pytest.skip(f"needs a real Secret Service: {problem}")
    user = server.add_user()
    cli = Cli(tmp_path / "reeldrop-home")  # the session's keyring (tools/test.sh runs a throwaway one)
    account = account_name(COMMAND_LINE_PROFILE, server.url)
    done = cli.run(
        "login", "--server", server.url, "--username", user.username, "--password-stdin", stdin=user.password + "\n"
    )
    assert done.returncode == 0, done.stderr
    assert "Secret Service" in done.stdout
    (token,) = secret_service_items(SERVICE, account)
    assert files_containing(token, tmp_path) == []
    assert user.call("GET", "/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    out = cli.run("logout", "--server", server.url)
    assert out.returncode == 0 and "revoked" in out.stdout
    assert secret_service_items(SERVICE, account) == []
    assert user.call("GET", "/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
