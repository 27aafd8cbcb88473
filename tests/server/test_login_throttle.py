"""Issue 14 item 5: guessing passwords backs off, per username and per address, and a flood of sign-ins
does not take the threads that serve everyone else."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.server.login_throttle import LoginThrottle
from tests.support.servers import RunningServer, User


class Clock:
    """The throttle's clock, moved by the test (the back-off is minutes long; the test is not)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(server.services, "login_throttle", LoginThrottle(clock=clock))  # the server is shared
    return clock


def sign_in(server: RunningServer, username: str, password: str) -> requests.Response:
    body = {"username": username, "password": password}
    return requests.post(f"{server.url}/api/auth/token", json=body, timeout=30)


def test_wrong_passwords_back_off_and_the_right_one_waits_too(server: RunningServer, user: User, clock: Clock) -> None:
    for _ in range(5):  # a few mistakes are free
        assert sign_in(server, user.username, "wrong password").status_code == 401
    refused = sign_in(server, user.username, user.password)
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_attempts", refused.text
    assert refused.headers["Retry-After"] == "1"
    clock.now += 1.0
    assert sign_in(server, user.username, "wrong password").status_code == 401  # checked again: wrong
    waits = []
    for _ in range(4):  # each further failure doubles the wait
        refused = sign_in(server, user.username, "wrong password")
        waits.append(int(refused.headers["Retry-After"]))
        clock.now += waits[-1]
        assert sign_in(server, user.username, "wrong password").status_code == 401
    assert waits == [2, 4, 8, 16]
    clock.now += 32
    assert sign_in(server, user.username, user.password).status_code == 200  # the owner gets in, and...
    for _ in range(5):
        assert sign_in(server, user.username, "wrong password").status_code == 401  # ...the count starts again


def test_one_address_guessing_many_usernames_is_slowed_too(server: RunningServer, user: User, clock: Clock) -> None:
    for n in range(20):
        assert sign_in(server, f"nobody-{n}", "guess").status_code == 401
    refused = sign_in(server, user.username, user.password)  # a name never tried, from the same address
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    clock.now += 3600.0 + 1  # failures an hour old are forgotten
    assert sign_in(server, user.username, user.password).status_code == 200


class CountingPool(ThreadPoolExecutor):
    """The server's hashing pool, counting what runs in it and how much at once."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers, thread_name_prefix="test-hash")
        self.tasks = self.running = self.peak = 0
        self.lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        def counted():
            with self.lock:
                self.tasks += 1
                self.running += 1
                self.peak = max(self.peak, self.running)
            try:
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.running -= 1

        return super().submit(counted)


def test_a_flood_of_sign_ins_is_hashed_a_few_at_a_time_off_the_shared_threads(
    server: RunningServer, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.services, "login_throttle", LoginThrottle(free_per_user=10**4, free_per_address=10**4))
    pool = CountingPool(2)
    monkeypatch.setattr(server.services, "hashing", pool)
    with ThreadPoolExecutor(32) as clients:
        results = [clients.submit(sign_in, server, f"someone-{n % 8}", "guess") for n in range(64)]
        me = user.call("GET", "/api/me")  # served meanwhile by the threads the hashing does not take
        codes = {r.result(timeout=120).status_code for r in results}
    pool.shutdown()
    assert me.status_code == 200 and codes == {401}
    assert pool.tasks == 64 and pool.peak <= 2  # every password check ran in the bounded pool
