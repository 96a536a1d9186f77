"""Reviewer sign-in and sign-out, the current reviewer, and ``@requires(role)``.

The session lives server-side (``support.accounts.auth``); the browser holds only a random token in
the ``support_session`` cookie: HttpOnly, SameSite=Lax, Path=/review, Secure over HTTPS.
Every reviewer page answers ``Cache-Control: no-store``: a shared computer's back button or
cache must not show an application after sign-out.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from support.accounts import auth, roles
from support.config import Settings
from support.data.models import Reviewer
from support.platform import i18n, ratelimit
from support.platform.formatting import format_when
from support.web import abuse
from support.web.forms import read_small_form
from support.web.templating import render

SESSION_COOKIE = "support_session"
COOKIE_PATH = "/review"
LOGIN_PATH = "/review/login"
HOME_PATH = "/review/queue"
NO_STORE = {"cache-control": "no-store", "x-robots-tag": "noindex"}

_UNKNOWN = object()

Endpoint = Callable[[Request], Awaitable[Response]]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def safe_next(value: str | None) -> str | None:
    """A local path under /review, or None: never send anyone to another site."""
    if not value or len(value) > 2000:
        return None
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\\" for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return None
    if not (parts.path == COOKIE_PATH or parts.path.startswith(COOKIE_PATH + "/")):
        return None
    if "//" in parts.path or ".." in parts.path.split("/"):
        return None
    return value


async def current_reviewer(request: Request) -> Reviewer | None:
    """The signed-in reviewer, looked up once per request."""
    cached = getattr(request.state, "reviewer", _UNKNOWN)
    if cached is not _UNKNOWN:
        return cast(Reviewer | None, cached)
    reviewer = await auth.session_reviewer(request.cookies.get(SESSION_COOKIE))
    request.state.reviewer = reviewer
    return reviewer


def no_store(response: Response) -> Response:
    """Unless the endpoint chose already (documents say ``private, no-store``)."""
    for name, value in NO_STORE.items():
        response.headers.setdefault(name, value)
    return response


def render_review(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """``render`` for reviewer pages: in English, the signed-in reviewer in the context, no
    caching."""
    context = dict(context or {})
    context.setdefault("reviewer", getattr(request.state, "reviewer", None))
    response = render(request, name, context, status_code, lang=i18n.DEFAULT)
    no_store(response)
    return response


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    response = RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303)
    no_store(response)
    return response


def requires(role: str = "reviewer") -> Callable[[Endpoint], Endpoint]:
    """Protect a Starlette endpoint: ``request.state.reviewer`` is set inside it.

    Signed out: a GET goes to the sign-in page (and comes back after), anything else gets
    a readable 401 page (a form posted after the session ended must not be replayed by a
    redirect). Signed in with a role too low: a readable 403 page.
    """
    if role not in roles.ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {roles.ROLES}")

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            reviewer = await current_reviewer(request)
            if reviewer is None:
                if request.method in {"GET", "HEAD"}:
                    return _login_redirect(request)
                return render_review(request, "review/forbidden.html", {
                    "signed_out": True, "login_url": _login_url_for(request),
                }, 401)
            if not roles.has_role(reviewer, role):
                return render_review(request, "review/forbidden.html", {
                    "signed_out": False, "needed_role": role,
                }, 403)
            return no_store(await endpoint(request))

        return wrapper

    return decorate


def _login_url_for(request: Request) -> str:
    """Where to sign in again from a refused POST: back to the page the form came from
    when the browser said so and it is one of ours."""
    referer = request.headers.get("referer")
    back = None
    if referer:
        parts = urlsplit(referer)
        local = parts.path + ("?" + parts.query if parts.query else "")
        if parts.netloc in {"", request.url.netloc}:
            back = safe_next(local)
    return f"{LOGIN_PATH}?next={quote(back, safe='')}" if back else LOGIN_PATH


def _set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        path=COOKIE_PATH,
        secure=_settings(request).base_url.startswith("https"),
        httponly=True,
        samesite="lax",
    )


def _clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path=COOKIE_PATH,
        secure=_settings(request).base_url.startswith("https"),
        httponly=True,
        samesite="lax",
    )


async def login_form(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if await current_reviewer(request) is not None:
        return no_store(RedirectResponse(next_path or HOME_PATH, status_code=303))
    return render_review(request, "review/login.html", {
        "email": "", "error": None, "next": next_path, "reviewer": None,
    })


async def login_submit(request: Request) -> Response:
    _settings(request)
    form = await read_small_form(request)
    email = form.get("email").strip()
    password = form.get("password")
    next_path = safe_next(form.get("next"))
    limits, ip = abuse.limiter(request), abuse.client_ip(request)
    try:
        if not email or not password:
            raise auth.AuthError("Enter your email and your password.")
        # Checked before the (deliberately slow) Argon2 hash; only failures count.
        await limits.check(ratelimit.Rule.LOGIN_IP, ip)
        try:
            reviewer = await auth.authenticate(email, password)
        except auth.AuthError:
            await limits.count(ratelimit.Rule.LOGIN_IP, ip)
            raise
    except auth.AuthError as exc:
        return render_review(request, "review/login.html", {
            "email": email, "error": exc.message, "next": next_path, "reviewer": None,
        }, 422)
    except ratelimit.RateLimited as refusal:
        minutes = f"{refusal.minutes} minute{'s' if refusal.minutes != 1 else ''}"
        refused = render_review(request, "review/login.html", {
            "email": email, "next": next_path, "reviewer": None,
            "error": "Too many failed sign-ins from this network. Your password was not "
                     f"checked. Try again in {minutes}, after {format_when(refusal.until)}.",
        }, 429)
        refused.headers["retry-after"] = str(refusal.retry_after)
        return refused
    # A new session id at every sign-in; whatever session this browser had ends.
    await auth.end_session(request.cookies.get(SESSION_COOKIE))
    token = await auth.start_session(reviewer)
    response = RedirectResponse(next_path or HOME_PATH, status_code=303)
    _set_session_cookie(response, request, token)
    return no_store(response)


async def logout(request: Request) -> Response:
    _settings(request)
    await read_small_form(request)
    await auth.end_session(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    _clear_session_cookie(response, request)
    return no_store(response)


def routes() -> list[Route]:
    return [
        Route(LOGIN_PATH, login_form, methods=["GET"], name="review_login"),
        Route(LOGIN_PATH, login_submit, methods=["POST"]),
        Route("/review/logout", logout, methods=["POST"], name="review_logout"),
    ]
