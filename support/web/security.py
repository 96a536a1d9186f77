"""Headers every response carries, and the CSRF check every form goes through.

CSRF uses a double-submit token: a random value in an HttpOnly cookie, repeated in a
hidden field of every form and compared in constant time; a cross-site ``Origin`` or
``Sec-Fetch-Site`` is refused as well. Applicants have no session to hang a token on,
so the cookie is the session.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "support_csrf"
CSRF_FIELD = "csrf_token"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # Status links carry their token in the path: never let it leak to another site.
    "referrer-policy": "no-referrer",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
}


COOKIE_MAX_AGE = 365 * 86400

# Served over HTTPS (``SUPPORT_BASE_URL`` starts with https://), every answer tells the
# browser to come back only over HTTPS for a year, so a reviewer's first request on a
# hostile network cannot be downgraded to plain HTTP (and their cookie read). Not on plain
# HTTP: a browser ignores it there, and a development site must stay reachable.
HSTS = "max-age=31536000; includeSubDomains"


class StrictTransportSecurity:
    """Pure ASGI, the outermost layer (``support.app``), so that even the 500 page from
    Starlette's error middleware carries the header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["strict-transport-security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_hsts)


def cookie_header(name: str, value: str, *, secure: bool, http_only: bool) -> str:
    """A Set-Cookie value for the pure-ASGI middlewares, which have no Response to call
    ``set_cookie`` on: site-wide, a year, never sent by other sites' forms."""
    attributes = f"Path=/; SameSite=Lax; Max-Age={COOKIE_MAX_AGE}"
    if http_only:
        attributes += "; HttpOnly"
    if secure:
        attributes += "; Secure"
    return f"{name}={value}; {attributes}"


class CsrfRejected(Exception):
    """The form did not come from one of our pages."""


class SecurityMiddleware:
    """Pure ASGI (not BaseHTTPMiddleware) so streamed bodies and responses pass untouched."""

    def __init__(self, app: ASGIApp, *, secure_cookies: bool) -> None:
        self.app = app
        self.secure_cookies = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/api/"):
            # The API takes a bearer key, never a cookie: its answers carry the headers but
            # no CSRF cookie (a new one on every call of a service that keeps none).
            await self.app(scope, receive, self._with_headers(send))
            return
        existing = Request(scope).cookies.get(CSRF_COOKIE, "")
        token = existing if len(existing) >= 32 else None
        is_new = token is None
        scope.setdefault("state", {})["csrf_token"] = token or secrets.token_urlsafe(32)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if is_new:
                    headers.append("set-cookie", cookie_header(
                        CSRF_COOKIE, scope["state"]["csrf_token"], secure=self.secure_cookies,
                        http_only=True,
                    ))
            await send(message)

        await self.app(scope, receive, send_with_headers)


    @staticmethod
    def _with_headers(send: Send) -> Send:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        return send_with_headers


def csrf_token(request: Request) -> str:
    return str(request.state.csrf_token)


def check_csrf(request: Request, submitted: str, base_url: str) -> None:
    """Raise CsrfRejected unless the form's token matches the cookie and the request
    did not come from another site."""
    if request.headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}:
        raise CsrfRejected()
    origin = request.headers.get("origin")
    if origin and origin != "null":
        allowed = {_origin(base_url), _origin(str(request.base_url))}
        if origin.rstrip("/") not in allowed:
            raise CsrfRejected()
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not submitted or not hmac.compare_digest(cookie.encode(), submitted.encode()):
        raise CsrfRejected()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
