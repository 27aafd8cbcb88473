"""OPTIONS on a path of the API answers which methods it takes (204 with Allow), rather than 405.

HTTP clients and scanners ask with OPTIONS; Starlette answers 405 naming only the first route that matched the
path. Browsers' CORS preflights never reach this: CORSMiddleware, outside it, answers those (CORS_ORIGINS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import Match

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send


CANDIDATES = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


class OptionsAnswer:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":
            await self.app(scope, receive, send)
            return
        routes = scope["app"].router.routes
        methods = {
            method
            for method in CANDIDATES
            if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
        }
        if not methods:
            await self.app(scope, receive, send)  # no such path: the app's own 404
            return
        allow = ", ".join(sorted(methods | {"OPTIONS"}))
        await Response(status_code=204, headers={"Allow": allow})(scope, receive, send)
