"""The two pumps of one proxied connection: upstream-bound (HTTP-framed, faults fire here) and downstream."""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.support.faultproxy_http import (
    Fault,
    RequestHead,
    RequestRecord,
    drain_body,
    parse_head,
    response_body_length,
    response_status,
)

if TYPE_CHECKING:
    from tests.support.faultproxy import FaultProxy

log = logging.getLogger(__name__)

POLL = 0.1
MAX_HEAD = 64 * 1024
JOIN_TIMEOUT = 5.0
SEND_TIMEOUT = 30.0


class _Cut(Exception):
    """End the connection with a reset."""


class _Answered(Exception):
    """A canned answer was sent; end the connection politely so the client can read it."""


@dataclass
class _Exchange:
    """A request sent upstream whose response has not ended; ``doom`` cuts that response."""

    head: RequestHead
    record: RequestRecord
    doom: Fault | None = None


class Connection:
    """Pumps of one client connection: upstream-bound (framed, faults) and downstream (plain)."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, index: int) -> None:
        self.proxy = proxy
        self.client = client
        self.index = index
        self.upstream: socket.socket | None = None
        self.record: RequestRecord | None = None
        self.head: RequestHead | None = None
        self.offset = 0
        self.body_left: int | None = None
        self.requests_sent = 0
        self.closing = threading.Event()
        self.body_in_flight = False  # counted in the proxy's in_flight gauge
        # Responses, framed as they go down (under the proxy's lock: other connections look at them).
        self.exchanges: deque[_Exchange] = deque()
        self._response_head = b""
        self._response_left: int | None = 0  # 0: expecting a head; None: until the connection ends
        self._response_body = 0

    def run(self) -> None:
        proxy = self.proxy
        try:
            self.upstream = socket.create_connection(proxy.upstream, timeout=JOIN_TIMEOUT)
        except OSError as error:
            log.info("faultproxy: upstream %s unreachable: %s", proxy.upstream, error)
            self.client.close()
            return
        for sock in (self.client, self.upstream):
            sock.settimeout(SEND_TIMEOUT)  # for sendall; reads wait in select() with POLL
        with proxy._lock:
            proxy._sockets.update((self.client, self.upstream))
            proxy._live.add(self)
        downstream = proxy._spawn(self._pump_down, f"faultproxy-down-{self.index}")
        try:
            self._pump_up()
        except _Cut:
            for sock in (self.client, self.upstream):
                _reset_on_close(sock)
        except (_Answered, OSError):
            pass
        self._end_body()
        # Stop the other pump before closing: closing a socket another thread select()s on is a race.
        self.closing.set()
        downstream.join(JOIN_TIMEOUT)
        for sock in (self.client, self.upstream):
            sock.close()
        with proxy._lock:
            proxy._sockets.difference_update((self.client, self.upstream))
            proxy._live.discard(self)

    def _recv(self, sock: socket.socket, size: int) -> bytes | None:
        """Data, b"" at EOF, or None when the proxy is closing."""
        while not (self.proxy._stop.is_set() or self.closing.is_set()):
            ready, _, _ = select.select([sock], [], [], POLL)
            if ready:
                return sock.recv(size)
        return None

    def _pump_down(self) -> None:
        assert self.upstream is not None
        seen = 0
        try:
            while True:
                data = self._recv(self.upstream, self.proxy._read_size())
                if not data:
                    _shutdown(self.client, socket.SHUT_WR)
                    return
                if self.requests_sent > seen:
                    seen = self.requests_sent
                    self.proxy._apply_latency()
                data, cut = self._frame_response(data)
                self.client.sendall(data)
                self.proxy._pace(len(data))
                if cut:
                    for sock in (self.client, self.upstream):
                        _reset_on_close(sock)
                    self.closing.set()  # the upstream pump returns and run() closes both: RST
                    return
        except OSError:
            _shutdown(self.client)

    def open_response_matches(self, fault: Fault) -> bool:
        """Whether a request of this connection that ``fault`` matches still awaits or streams its response
        (called under the proxy's lock)."""
        return any(fault.applies(self.index, exchange.head) for exchange in self.exchanges)

    def _frame_response(self, data: bytes) -> tuple[bytes, bool]:
        """Follow response framing (heads, Content-Length) so each response is matched to its request; returns
        the bytes to forward, cut short (and True) where a doomed response reaches its fault's position."""
        proxy, done = self.proxy, 0
        while done < len(data):
            with proxy._lock:
                exchange = self.exchanges[0] if self.exchanges else None
            if exchange is None:
                return data, False  # bytes nobody asked for: forwarded untouched
            if self._response_left == 0:  # in a head
                head = self._response_head + data[done:]
                end = head.find(b"\r\n\r\n")
                if end < 0:
                    self._response_head = head[-MAX_HEAD:]
                    return data, False
                done += end + 4 - len(self._response_head)
                self._response_head, raw = b"", head[: end + 4]
                if 100 <= response_status(raw) < 200:
                    continue  # an interim answer (100 Continue): the real one follows
                self._response_left, self._response_body = response_body_length(raw, exchange.head.method), 0
                if self._response_left == 0:
                    self._end_response()
                continue
            size = len(data) - done if self._response_left is None else min(len(data) - done, self._response_left)
            doom = exchange.doom
            if doom is not None and 0 <= doom.at - self._response_body < size and proxy._claim(doom):
                proxy._fire("cut response", exchange.record)
                return data[: done + doom.at - self._response_body], True
            self._response_body += size
            done += size
            if self._response_left is not None:
                self._response_left -= size
                if self._response_left == 0:
                    self._end_response()
        return data, False

    def _end_response(self) -> None:
        with self.proxy._lock:
            if self.exchanges:
                self.exchanges.popleft()

    def _pump_up(self) -> None:
        buffer = b""
        while True:
            data = self._recv(self.client, self.proxy._read_size())
            if data is None:
                return
            if not data:
                assert self.upstream is not None
                _shutdown(self.upstream, socket.SHUT_WR)
                return
            buffer = self._feed(buffer + data)

    def _feed(self, data: bytes) -> bytes:
        """Forward what can be forwarded; returns bytes of an incomplete request head to keep."""
        while data:
            if self.head is None:
                end = data.find(b"\r\n\r\n")
                if end < 0 and len(data) <= MAX_HEAD:
                    return data
                raw, data = (data[: end + 4], data[end + 4 :]) if end >= 0 else (b"", data)
                self._start_request(raw)
                if self._answer_canned(data):
                    raise _Answered
                assert self.head is not None
                self._forward(self.head.raw)
            take = len(data) if self.body_left is None else min(len(data), self.body_left)
            self._forward(data[:take])
            data = data[take:]
            if self.body_left is not None:
                self.body_left -= take
                if self.body_left == 0:
                    self.head, self.body_left = None, None
                    self._end_body()
        if self.head is not None and self.body_left == 0:
            self.head, self.body_left = None, None
        return b""

    def _end_body(self) -> None:
        if self.body_in_flight:
            self.body_in_flight = False
            self.proxy._body_ended()

    def _start_request(self, raw: bytes) -> None:
        self.head = parse_head(raw)
        self.offset = 0
        self.body_left = self.head.content_length
        self.record = RequestRecord(self.index, self.head.method, self.head.target)
        with self.proxy._lock:
            self.proxy.requests.append(self.record)
            self.proxy._lock.notify_all()
            self.exchanges.append(_Exchange(self.head, self.record, self._doom(self.head)))
        if self.body_left:
            self.body_in_flight = True
            self.proxy._body_started()

    def _doom(self, head: RequestHead) -> Fault | None:
        """A "cut concurrent" fault that matches this request while another matching response is open
        (called under the proxy's lock)."""
        for fault in self.proxy._faults:
            if fault.kind != "cut concurrent" or not fault.applies(self.index, head):
                continue
            if any(other is not self and other.open_response_matches(fault) for other in self.proxy._live):
                return fault
        return None

    def _answer_canned(self, body_start: bytes) -> bool:
        proxy, head = self.proxy, self.head
        assert head is not None and self.record is not None
        with proxy._lock:
            fault = next((f for f in proxy._faults if f.kind == "respond" and f.applies(self.index, head)), None)
        if fault is None or not proxy._claim(fault):
            return False
        drain_body(head, body_start, lambda: self._recv(self.client, 65536))
        self.client.sendall(fault.response)
        proxy._fire(f"respond {fault.status}", self.record)
        _shutdown(self.client, socket.SHUT_WR)
        return True

    def _due(self, start: int, end: int) -> tuple[Fault | None, int]:
        proxy, head = self.proxy, self.head
        assert head is not None
        best: tuple[Fault | None, int] = (None, end + 1)
        with proxy._lock:
            for fault in proxy._faults:
                if fault.kind in ("respond", "cut concurrent") or not fault.applies(self.index, head):
                    continue
                position = fault.at + (head.body_start if fault.kind == "flip" else 0)
                due = start <= position <= end if fault.kind == "cut" else start <= position < end
                if due and position < best[1]:
                    best = (fault, position)
        return best

    def _forward(self, data: bytes) -> None:
        """Send request bytes upstream, firing the faults whose position falls inside them."""
        proxy, upstream, record = self.proxy, self.upstream, self.record
        assert upstream is not None and record is not None and self.head is not None
        if self.offset == 0 and data:
            proxy._apply_latency()
            self.requests_sent += 1
        while True:
            fault, position = self._due(self.offset, self.offset + len(data))
            if fault is None:
                self._send_up(data)
                return
            before = position - self.offset
            self._send_up(data[:before])
            data = data[before:]
            if not proxy._claim(fault):
                continue
            proxy._fire(fault.kind, record)
            if fault.kind == "cut":
                raise _Cut
            if fault.kind == "stall":
                self._stall(fault.seconds)
                if self.proxy._stop.is_set() or self.closing.is_set():
                    raise _Cut  # closing mid-stall drops the request; it must not slip through late
                continue
            self._send_up(bytes([data[0] ^ 0xFF]))  # flip
            data = data[1:]

    def _stall(self, seconds: float) -> None:
        release, deadline = self.proxy._release, time.monotonic() + seconds
        while not (self.proxy._stop.is_set() or self.closing.is_set()):
            left = deadline - time.monotonic()
            if left <= 0 or release.wait(min(left, POLL)):
                return

    def _send_up(self, data: bytes) -> None:
        if not data:
            return
        assert self.upstream is not None and self.record is not None and self.head is not None
        self.upstream.sendall(data)
        self.proxy._pace(len(data))
        self.record.body_bytes_forwarded = max(0, self.offset + len(data) - self.head.body_start)
        self.offset += len(data)


def _shutdown(sock: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(how)


def _reset_on_close(sock: socket.socket) -> None:
    """Make close() send RST, like a dropped connection, not a polite FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
