"""A fault-injecting TCP proxy for tests: put it between an HTTP client and any HTTP server on 127.0.0.1.

    with FaultProxy(("127.0.0.1", server_port)) as proxy:
        proxy.slow_down(count=2)                        # next 2 requests: canned S3 503 SlowDown
        proxy.cut_after(3 * MiB, match=b"partNumber=37")  # RST that request after 3 MiB
        requests.put(proxy.url + "/bucket/key?partNumber=37&uploadId=u", data=body)

Faults are armed and changed while traffic flows, and each fires ``times`` times. Positions are counted
per HTTP request (the proxy frames requests by their head and Content-Length), so "cut after N bytes"
means N bytes of *that* request, head included, and a byte flip's offset is into the request body. A fault
armed with ``match`` only hits requests whose head (request line + headers) contains those bytes, and one
with ``connection=k`` only the k-th connection the proxy accepted (1-based). A request that ends before a
fault's position leaves the fault armed for the next one.

Latency is added before each request is forwarded and before each response starts (round-trip delay, not
a per-chunk tax), and the bandwidth cap paces each direction of each connection. Presigned URLs sign the
Host header, so point the S3 endpoint itself at the proxy rather than rewriting URLs.

``in_flight`` counts the request bodies on their way through right now (head seen, body not yet all
forwarded) and ``take_peak()`` the most there were at once: how many parts a client really has on the wire.
Responses are framed too (head, Content-Length), so a fault can tell which requests' responses overlap.

Threads: one accept loop, two pumps per connection. Every wait is bounded or wakes on ``close()``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable

from tests.support.faultproxy_conn import POLL, Connection
from tests.support.faultproxy_http import Fault, RequestRecord, canned_response

log = logging.getLogger(__name__)

SLOW_DOWN_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>FAULTPROXY</RequestId></Error>"
)
EXPIRED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message><RequestId>FAULTPROXY</RequestId></Error>"
)
INTERNAL_ERROR_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)

JOIN_TIMEOUT = 5.0


class FaultProxy:
    def __init__(self, upstream: tuple[str, int], *, host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self._lock = threading.Condition()
        self._faults: list[Fault] = []
        self._latency = 0.0
        self._bandwidth: float | None = None
        self._stop = threading.Event()
        self._release = threading.Event()
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(POLL)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._live: set[Connection] = set()
        self.connections = 0
        self.requests: list[RequestRecord] = []
        self.fired: dict[str, int] = {}
        self.paced_seconds = 0.0
        self.latency_waits = 0
        self.in_flight = 0
        self._peak_in_flight = 0

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}"

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._spawn(self._accept_loop, "faultproxy-accept")
        return self

    def close(self) -> None:
        self._stop.set()
        self._release.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() at once (Linux)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(JOIN_TIMEOUT)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def alive_threads(self) -> int:
        return sum(1 for thread in self._threads if thread.is_alive())

    # -- faults ------------------------------------------------------------------------------------
    def _arm(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def cut_after(
        self, nbytes: int, *, times: int = 1, connection: int | None = None, match: bytes | None = None
    ) -> None:
        """Reset the connection (RST) after forwarding ``nbytes`` of a request, head included."""
        self._arm(Fault("cut", nbytes, times, connection, match))

    def flip_byte(
        self, body_offset: int, *, times: int = 1, connection: int | None = None, match: bytes | None = None
    ) -> None:
        """Invert the byte at ``body_offset`` of a request body on its way upstream."""
        self._arm(Fault("flip", body_offset, times, connection, match))

    def stall(
        self,
        seconds: float,
        *,
        after_bytes: int = 0,
        times: int = 1,
        connection: int | None = None,
        match: bytes | None = None,
    ) -> None:
        """Stop forwarding (and reading) a request for ``seconds`` after ``after_bytes`` of it."""
        self._arm(Fault("stall", after_bytes, times, connection, match, seconds=seconds))

    def cut_concurrent_responses(self, after_bytes: int, *, times: int = 1, match: bytes | None = None) -> None:
        """Reset a matching request's connection after ``after_bytes`` of its response body when, as it was
        sent, another matching request was still awaiting or receiving its response: a server or middlebox
        that drops parallel streams (seed 000's "S3 connection issues"). One at a time passes."""
        self._arm(Fault("cut concurrent", after_bytes, times, None, match))

    def respond(
        self,
        status: int,
        body: bytes = b"",
        *,
        count: int = 1,
        content_type: str = "application/xml",
        connection: int | None = None,
        match: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with a canned response instead of forwarding
        them (the request body is read and dropped first, then the connection is closed)."""
        response = canned_response(status, body, content_type, headers)
        self._arm(Fault("respond", 0, count, connection, match, response=response, status=status))

    def slow_down(self, count: int = 1, *, match: bytes | None = None) -> None:
        """S3's 503 SlowDown for the next ``count`` matching requests."""
        self.respond(503, SLOW_DOWN_XML, count=count, match=match)

    def set_latency(self, seconds: float) -> None:
        with self._lock:
            self._latency = max(0.0, seconds)

    def set_bandwidth(self, bytes_per_second: float | None) -> None:
        with self._lock:
            self._bandwidth = bytes_per_second or None

    def release_stalls(self) -> None:
        """End the stalls in progress now (armed faults stay armed)."""
        with self._lock:
            release, self._release = self._release, threading.Event()
        release.set()

    def clear(self) -> None:
        """Disarm every fault, end running stalls, drop latency and bandwidth cap."""
        with self._lock:
            self._faults.clear()
            self._latency, self._bandwidth = 0.0, None
        self.release_stalls()

    def take_peak(self) -> int:
        """The most request bodies that were in flight at once since the last call (or the start); the
        count starts again from those in flight now."""
        with self._lock:
            peak, self._peak_in_flight = self._peak_in_flight, self.in_flight
        return peak

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` requests were seen (or ``timeout`` s passed)."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.requests) >= count, timeout)

    # -- internals ---------------------------------------------------------------------------------
    def _spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._threads = [item for item in self._threads if item.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def _fire(self, kind: str, record: RequestRecord) -> None:
        with self._lock:
            self.fired[kind] = self.fired.get(kind, 0) + 1
            record.faults.append(kind)

    def _claim(self, fault: Fault) -> bool:
        with self._lock:
            if fault.times <= 0 or fault not in self._faults:
                return False
            fault.times -= 1
            return True

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                index = self.connections
            self._spawn(Connection(self, client, index).run, f"faultproxy-conn-{index}")

    def _body_started(self) -> None:
        with self._lock:
            self.in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self.in_flight)

    def _body_ended(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _pace(self, nbytes: int) -> None:
        with self._lock:
            rate = self._bandwidth
            if rate:
                self.paced_seconds += nbytes / rate
        if rate:
            self._stop.wait(nbytes / rate)

    def _read_size(self) -> int:
        rate = self._bandwidth
        return 65536 if not rate else max(512, min(65536, int(rate / 20)))

    def _apply_latency(self) -> None:
        with self._lock:
            latency = self._latency
            if latency:
                self.latency_waits += 1
        if latency:
            self._stop.wait(latency)
