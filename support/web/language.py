"""Which language a request is answered in, remembered when the applicant picks one."""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from support import i18n

COOKIE_MAX_AGE = 365 * 86400


class LanguageMiddleware:
    """Puts the chosen language in ``request.state.lang``.

    A ``?lang=`` link (the switcher) also sets a cookie, so the choice follows the applicant
    through forms that post without the query string.
    """

    def __init__(self, app: ASGIApp, *, secure_cookies: bool) -> None:
        self.app = app
        self.secure_cookies = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang", [""])[0]
        headers = dict(scope.get("headers") or [])
        cookies = SimpleCookie(headers.get(b"cookie", b"").decode("latin-1"))
        remembered = cookies[i18n.COOKIE].value if i18n.COOKIE in cookies else None
        accept = headers.get(b"accept-language", b"").decode("latin-1")
        lang = i18n.choose(query, remembered, accept)
        scope.setdefault("state", {})["lang"] = lang
        picked = i18n.supported(query)
        if not picked or picked == remembered:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                attributes = f"Path=/; SameSite=Lax; Max-Age={COOKIE_MAX_AGE}"
                if self.secure_cookies:
                    attributes += "; Secure"
                MutableHeaders(scope=message).append(
                    "set-cookie", f"{i18n.COOKIE}={picked}; {attributes}"
                )
            await send(message)

        await self.app(scope, receive, send_with_cookie)
