"""Caps request bodies where the bytes arrive, so a chunked upload cannot slip past a
Content-Length check: the body is counted as it is received, and the app only ever sees a body
that fits."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.errors import error_body


class BodyLimitMiddleware:
    """`max_bytes` for every request, except paths starting with a key of `overrides`
    (dataset zips are larger than images)."""

    def __init__(self, app: ASGIApp, max_bytes: int, overrides: dict[str, int] | None = None
                 ) -> None:
        self.app, self.max_bytes, self.overrides = app, max_bytes, overrides or {}

    def _limit(self, path: str) -> int:
        return next((n for prefix, n in self.overrides.items() if path.startswith(prefix)),
                    self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        # Read the whole body first (at most max_bytes of it), then replay it to the app.
        messages: list[Message] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                messages.append(message)  # a disconnect: pass it on
                break
            total += len(message.get("body", b""))
            if total > limit:
                await self._refuse(send, limit)
                return
            messages.append(message)
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int) -> None:
        mb = limit / 1e6
        body = json.dumps(error_body(
            "too_large", f"the request body is larger than the {mb:g} MB allowed"
        )).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": body})
