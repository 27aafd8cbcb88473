"""Sign-in back-off: wrong passwords cost time, per username and per client address.

A few wrong passwords are free (people mistype); past that each further failure doubles the wait before the
next try is even checked (1 s, 2 s, 4 s … up to 15 min), answered 429 with Retry-After and no password
hashing. The username's count starts again at a success; the address's only fades (an attacker must not
reset it by signing in to an account of their own). Failures older than an hour are forgotten.

Per process and in memory: a fleet of API processes multiplies the free tries by its size, which still
turns 200 guesses in 20 s into days. Behind a reverse proxy, run uvicorn with ``--proxy-headers`` (and
``--forwarded-allow-ips``) so the client address is the client's, not the proxy's.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

FREE_FAILURES_PER_USER = 5
FREE_FAILURES_PER_ADDRESS = 20  # several people behind one NAT address mistype too
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 15 * 60.0
FORGET_AFTER_S = 3600.0
MAX_TRACKED = 50_000  # names and addresses remembered at once (guessing random usernames must not grow it)


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0


class LoginThrottle:
    def __init__(
        self,
        *,
        free_per_user: int = FREE_FAILURES_PER_USER,
        free_per_address: int = FREE_FAILURES_PER_ADDRESS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_per_user = free_per_user
        self.free_per_address = free_per_address
        self.clock = clock
        self._failures: OrderedDict[tuple[str, str], _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, username: str, address: str) -> float:
        """Seconds before this username may be tried from this address (0: now)."""
        now = self.clock()
        with self._lock:
            return max(
                self._wait(("user", username.lower()), self.free_per_user, now),
                self._wait(("address", address), self.free_per_address, now),
            )

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (("user", username.lower()), ("address", address)):
                record = self._failures.pop(key, None) or _Failures()
                if now - record.last > FORGET_AFTER_S:
                    record = _Failures()
                record.count, record.last = record.count + 1, now
                self._failures[key] = record  # to the end: the least recent are dropped first
            while len(self._failures) > MAX_TRACKED:
                self._failures.popitem(last=False)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(("user", username.lower()), None)

    def _wait(self, key: tuple[str, str], free: int, now: float) -> float:
        record = self._failures.get(key)
        if record is None or record.count < free or now - record.last > FORGET_AFTER_S:
            return 0.0
        delay = min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** (record.count - free))
        return max(0.0, record.last + delay - now)
