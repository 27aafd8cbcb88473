"""app.connect: which backend and token the CLI (and later the GUI) uses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.connect import COMMAND_LINE_PROFILE, NotSignedIn, Target, connect, find_token, resolve_target
from app.core.credentials import MemoryCredentialStore
from app.core.settings import EMBEDDED_PROFILE_NAME, Profile, Settings, SettingsError, plain_http_warning
from tests.support.servers import RunningServer, User
from tests.support.waiting import wait_until

WORK = Profile("work", "https://reeldrop.example.com")


def settings(active: str = EMBEDDED_PROFILE_NAME) -> Settings:
    return Settings().with_profile(WORK).with_changes(active_profile=active)


def test_the_server_comes_from_the_option_the_environment_or_the_active_profile():
    assert resolve_target(settings=settings(), environ={}) == Target(EMBEDDED_PROFILE_NAME, None)
    assert resolve_target(settings=settings("work"), environ={}) == Target("work", WORK.server_url)
    from_env = resolve_target(settings=settings("work"), environ={"REELDROP_SERVER": "https://10.0.0.5:8000/"})
    assert from_env == Target(COMMAND_LINE_PROFILE, "https://10.0.0.5:8000")
    named = resolve_target("https://reeldrop.example.com/", settings=settings(), environ={})
    assert named == Target("work", WORK.server_url)  # a URL a profile already has keeps that profile's token
    assert named.backend_id == WORK.server_url and Target("x", None).backend_id == "embedded"
    with pytest.raises(SettingsError):
        resolve_target("ftp://nope", settings=settings(), environ={})


@pytest.mark.parametrize(
    "url",
    ["http://localhost:8000", "http://127.0.0.1:8000", "http://127.8.9.10", "http://[::1]:8000", "http://a.localhost"],
)
def test_plain_http_is_fine_on_this_computer(url: str) -> None:
    assert plain_http_warning(url) is None
    assert resolve_target(url, settings=settings(), environ={}).server_url == url


def test_plain_http_to_another_machine_is_refused_unless_accepted() -> None:
    """Issue 15 item 18: http:// was accepted for any host, sending the password, the token and the videos
    in clear. It is refused with the reason, unless accepted: once for a profile, or REELDROP_ALLOW_HTTP=1."""
    remote = "http://192.0.2.10:8000"
    with pytest.raises(SettingsError, match=r"unencrypted.*REELDROP_ALLOW_HTTP=1"):
        resolve_target(remote, settings=settings(), environ={})
    with pytest.raises(SettingsError, match="unencrypted"):
        resolve_target(settings=settings(), environ={"REELDROP_SERVER": "http://reeldrop.example.com"})
    assert resolve_target(remote, settings=settings(), environ={"REELDROP_ALLOW_HTTP": "1"}).server_url == remote
    accepted = Profile("lan", remote, allow_plain_http=True)
    with_lan = Settings().with_profile(accepted)
    assert resolve_target(remote, settings=with_lan, environ={}) == Target("lan", remote)
    again, problems = Settings.from_dict(with_lan.to_dict())  # the choice is kept with the profile
    assert not problems and next(p for p in again.profiles if p.name == "lan").allow_plain_http
    assert "allow_plain_http" not in WORK.to_dict()


def test_the_login_command_refuses_plain_http_to_another_machine(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELDROP_")}
    env.update(REELDROP_HOME=str(tmp_path / "home"), PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    ran = subprocess.run(
        [sys.executable, "-m", "app.cli", "login", "--server", "http://192.0.2.10:8000"],
        env=env, input="alice\nsecret\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode != 0 and "unencrypted" in ran.stderr, (ran.returncode, ran.stderr)


def test_the_token_comes_from_the_environment_first_then_the_store():
    store = MemoryCredentialStore()
    store.set_token("work", WORK.server_url, "stored-token")
    target = Target("work", WORK.server_url)
    assert find_token(target, environ={}, store_factory=lambda: store) == "stored-token"
    assert find_token(target, environ={"REELDROP_TOKEN": "env-token"}, store_factory=lambda: store) == "env-token"


def test_a_remote_server_needs_a_token(server: RunningServer, user: User):
    empty = MemoryCredentialStore
    with pytest.raises(NotSignedIn, match="reeldrop login"):
        connect(server.url, settings=Settings(), environ={}, store_factory=empty)
    with connect(server.url, settings=Settings(), environ={"REELDROP_TOKEN": user.token}) as connection:
        assert connection.client.me()["username"] == user.username
        assert connection.backend_id == server.url and connection.local is None


def test_this_computer_starts_the_embedded_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REELDROP_HOME", str(tmp_path))
    with connect(settings=Settings(), environ={}) as connection:
        assert connection.target.embedded and connection.backend_id == "embedded"
        assert connection.client.me()["username"] == "this-computer"
        assert connection.local is not None
    assert (tmp_path / "data" / "server").is_dir()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_the_built_in_server_ends_with_the_process_that_started_it(tmp_path: Path):
    # Its own process (so its work never holds the app's GIL), but never an orphan: killed without a
    # chance to clean up, the app must not leave the server running.
    starter = (
        "import os, pathlib, signal, sys\n"
        "from app.local_backend import start_local_backend\n"
        "backend = start_local_backend(pathlib.Path(sys.argv[1]))\n"
        "print(backend.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", starter, str(tmp_path)], capture_output=True, text=True, timeout=120)
    child = int(done.stdout.split()[0])
    wait_until(lambda: not _running(child), timeout=20, what="the built-in server to stop")


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's exit status is left
