"""Which language a request is answered in, remembered when the applicant picks one."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from support.platform import i18n
from support.web.security import cookie_header


class LanguageMiddleware:
    """Puts the chosen language in ``request.state.lang``.

    A ``?lang=`` link (the switcher) also sets a cookie, so the choice follows the applicant
    through forms that post without the query string. Pages vary with both.
    """

    def __init__(self, app: ASGIApp, *, secure_cookies: bool) -> None:
        self.app = app
        self.secure_cookies = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The API reads ?lang= and Accept-Language per call and keeps no cookie.
        if scope["type"] != "http" or scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        picked = i18n.supported(request.query_params.get("lang"))
        remembered = request.cookies.get(i18n.COOKIE)
        scope.setdefault("state", {})["lang"] = i18n.choose(
            picked, remembered, request.headers.get("accept-language", "")
        )

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.add_vary_header("Accept-Language")
                headers.add_vary_header("Cookie")
                if picked and picked != remembered:
                    headers.append("set-cookie", cookie_header(
                        i18n.COOKIE, picked, secure=self.secure_cookies, http_only=False,
                    ))
            await send(message)

        await self.app(scope, receive, send_with_language)
