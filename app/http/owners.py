"""Shared mode's identities: an owner id in a signed cookie, and the admin's bearer token.

Every HTTP request and WebSocket gets an `Actor` in `scope["state"]["actor"]`. A client
without a valid cookie (none yet, a forged or tampered one) is a new owner, and its first
response sets the cookie: HttpOnly (no script reads it), SameSite=Lax, a year long. A browser
and an `httpx.Client` both keep it. The cookie is a random id and its HMAC-SHA256 under the
server's key; it proves nothing but "the same client as before", which is all a class needs.

The teacher is the admin: an API client sends `Authorization: Bearer <PLAYGROUND_ADMIN_TOKEN>`;
a browser types the token once into the training page, which sets a second cookie holding a MAC
of the token (so a new token ends every admin session), kept until the browser closes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from pathlib import Path

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.services.owners import LOCAL, Actor

log = logging.getLogger(__name__)

COOKIE = "playground_owner"
ADMIN_COOKIE = "playground_admin"
MAX_AGE = 365 * 24 * 3600


def secret_key(configured: str, data_dir: Path) -> bytes:
    """PLAYGROUND_SECRET_KEY, or a key generated once into data_dir (readable by the app's
    user only), so owners keep their identity across restarts."""
    if configured:
        return configured.encode()
    path = data_dir / "secret_key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    try:  # O_EXCL: of two workers starting at once, one writes it and both read that one
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def _signature(key: bytes, owner: str) -> str:
    mac = hmac.new(key, owner.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(mac).decode()


def sign(key: bytes, owner: str) -> str:
    return f"{owner}.{_signature(key, owner)}"


def admin_pass(key: bytes, token: str) -> str:
    """The admin cookie's value for `token`: it cannot be made without the token, and a new
    token (or key) makes every old one worthless."""
    return _signature(key, f"admin:{token}")


def verify(key: bytes, value: str | None) -> str | None:
    """The owner id a cookie value names, if its signature holds; None otherwise."""
    if not value or value.count(".") != 1:
        return None
    owner, signature = value.split(".")
    if not owner or not hmac.compare_digest(signature, _signature(key, owner)):
        return None
    return owner


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", ())}


def _cookies(header: bytes | None) -> dict[str, str]:
    if not header:
        return {}
    try:
        jar = SimpleCookie(header.decode("latin-1"))
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


class OwnerMiddleware:
    """Shared mode only (create_app adds it then): an Actor for every connection."""

    def __init__(self, app: ASGIApp, key: bytes, admin_token: str = "") -> None:
        self.app, self.key = app, key
        self.admin = f"Bearer {admin_token}".encode() if admin_token else None
        self.admin_pass = admin_pass(key, admin_token) if admin_token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        cookies = _cookies(headers.get(b"cookie"))
        owner = verify(self.key, cookies.get(COOKIE))
        fresh = owner is None
        if owner is None:
            owner = secrets.token_urlsafe(12)
        given = headers.get(b"authorization")
        admin = bool(self.admin and given and hmac.compare_digest(given, self.admin)) or bool(
            self.admin_pass and hmac.compare_digest(cookies.get(ADMIN_COOKIE, "").encode(),
                                                    self.admin_pass.encode()))
        scope.setdefault("state", {})["actor"] = Actor(owner=owner, admin=admin)
        if not fresh or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = (f"{COOKIE}={sign(self.key, owner)}; Path=/; Max-Age={MAX_AGE}; HttpOnly; "
                  "SameSite=Lax").encode()

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def actor_of(scope: Scope) -> Actor:
    """The request's Actor: the one the middleware set, or the local user off shared mode."""
    return scope.get("state", {}).get("actor", LOCAL)


def grant_admin(response: Response, key: bytes, token: str) -> None:
    """The admin cookie on `response`, for a browser that gave the right token: until the
    browser closes, HttpOnly, sent only by the playground's own pages (SameSite=Strict)."""
    response.set_cookie(ADMIN_COOKIE, admin_pass(key, token), path="/", httponly=True,
                        samesite="strict")


def revoke_admin(response: Response) -> None:
    response.delete_cookie(ADMIN_COOKIE, path="/", httponly=True, samesite="strict")


def page_helpers() -> dict[str, Callable[..., bool]]:
    """What the templates ask about the visitor (Jinja globals), given the page's request:
    `mine`: may they change a thing of `owner`'s (its controls shown; always, off shared
    mode); `yours`: did they make it (a badge, shared mode only); `admin`: the teacher."""
    return {
        "mine": lambda request, owner: actor_of(request.scope).may_change(owner),
        "yours": lambda request, owner: owner is not None
        and actor_of(request.scope).owner == owner,
        "admin": lambda request: actor_of(request.scope).admin,
    }


def listening_beyond_loopback(argv: list[str], environ: dict[str, str]) -> str | None:
    """The host uvicorn was told to bind (`--host`, or UVICORN_HOST), if it is not a loopback
    address: there anyone on the network reaches the app."""
    host = environ.get("UVICORN_HOST")
    for i, arg in enumerate(argv):
        if arg == "--host" and i + 1 < len(argv):
            host = argv[i + 1]
        elif arg.startswith("--host="):
            host = arg.split("=", 1)[1]
    if host is None or host in ("127.0.0.1", "localhost", "::1") or host.startswith("127."):
        return None
    return host
