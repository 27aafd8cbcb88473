"""How long a client may take to send a request, and how many connections one server holds.

uvicorn cuts idle keep-alive connections (``timeout_keep_alive``) and refuses connections past
``limit_concurrency`` with a 503, but it waits for ever on a request head that never ends: 50 connections
sending half a head each stayed open for good. ``HeadTimeoutH11Protocol`` closes a connection whose request
head has not fully arrived ``head_timeout_s`` after the connection opened (or after the previous response).
A body that stops arriving is cut by the BodyGuard middleware (``body_idle_timeout_s`` between two chunks).

A public server still belongs behind a reverse proxy (docs/PRODUCTION.md): TLS, its own limits, buffering.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    from .config import ServerConfig

KEEP_ALIVE_S = 5


class HeadTimeoutH11Protocol(H11Protocol):
    head_timeout_s: float = 20.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the head has arrived: the route and BodyGuard take over
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_timer()  # the next request's head gets the same time (beside the keep-alive timer)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_too_slow)

    def _cancel_head_timer(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.info("closing a connection whose request head did not arrive within %s s", self.head_timeout_s)
            self.transport.close()


def uvicorn_options(config: ServerConfig) -> dict[str, Any]:
    """The options every uvicorn of this server runs with (the CLI's and the in-thread one)."""
    protocol = type("HeadTimeoutH11", (HeadTimeoutH11Protocol,), {"head_timeout_s": config.head_timeout_s})
    return {
        "http": protocol,
        "timeout_keep_alive": KEEP_ALIVE_S,
        "limit_concurrency": config.max_connections,
    }
