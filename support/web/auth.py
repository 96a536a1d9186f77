"""Reviewer sign-in and sign-out, the current reviewer, and ``@requires(role)``.

The session lives server-side (``support.accounts.auth``); the browser holds only a random token in
the ``support_session`` cookie: HttpOnly, SameSite=Lax, Path=/review, Secure over HTTPS.
Every reviewer page answers ``Cache-Control: no-store``: a shared computer's back button or
cache must not show an application after sign-out.

Signing in is two steps for whoever has a second factor: the password opens a *pending*
session, then ``/review/login/code`` takes a code from their app (or a recovery code) and
replaces it with a full session under a new token. Whoever must have a second factor and
has none is sent to set it up (``web/account.py``) instead. ``@requires`` lets neither
through: every desk page redirects a pending session, or one whose reviewer still has to
set up their second factor, to that step.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from support.accounts import auth, roles, second_factor
from support.data.models import Reviewer, ReviewerSession
from support.platform import i18n, ratelimit
from support.platform.formatting import format_when
from support.web import abuse
from support.web.context import settings_of
from support.web.forms import read_small_form
from support.web.templating import render

SESSION_COOKIE = "support_session"
COOKIE_PATH = "/review"
LOGIN_PATH = "/review/login"
CODE_PATH = "/review/login/code"
ENROL_PATH = "/review/account/two-factor"
HOME_PATH = "/review/queue"
NO_STORE = {"cache-control": "no-store", "x-robots-tag": "noindex"}

_UNKNOWN = object()

Endpoint = Callable[[Request], Awaitable[Response]]



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


async def current_session(request: Request) -> ReviewerSession | None:
    """The browser's live session, pending (half signed in) or not, looked up once per
    request; its reviewer is ``session.reviewer``."""
    cached = getattr(request.state, "review_session", _UNKNOWN)
    if cached is not _UNKNOWN:
        return cast(ReviewerSession | None, cached)
    session = await auth.session_of(request.cookies.get(SESSION_COOKIE))
    request.state.review_session = session
    request.state.reviewer = session.reviewer if session and not session.pending else None
    return session


async def current_reviewer(request: Request) -> Reviewer | None:
    """The signed-in reviewer (both steps done), looked up once per request."""
    cached = getattr(request.state, "reviewer", _UNKNOWN)
    if cached is not _UNKNOWN:
        return cast(Reviewer | None, cached)
    await current_session(request)
    return cast(Reviewer | None, request.state.reviewer)


def with_next(path: str, next_path: str | None) -> str:
    return f"{path}?next={quote(next_path, safe='')}" if next_path else path


def second_step(request: Request, session: ReviewerSession) -> str | None:
    """Where a session must go before anything else: the code (pending, with a second
    factor), setting one up (pending without one, or a reviewer who must have one and has
    none); None when it is fully signed in."""
    reviewer = session.reviewer
    if session.pending:
        return CODE_PATH if second_factor.enrolled(reviewer) else ENROL_PATH
    if second_factor.needs_enrolment(reviewer, settings_of(request).require_2fa):
        return ENROL_PATH
    return None


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


def _here(request: Request) -> str:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return target


def _login_redirect(request: Request) -> RedirectResponse:
    response = RedirectResponse(f"{LOGIN_PATH}?next={quote(_here(request), safe='')}",
                                status_code=303)
    no_store(response)
    return response


def requires(role: str = "reviewer") -> Callable[[Endpoint], Endpoint]:
    """Protect a Starlette endpoint: ``request.state.reviewer`` is set inside it.

    Signed out: a GET goes to the sign-in page (and comes back after), anything else gets
    a readable 401 page (a form posted after the session ended must not be replayed by a
    redirect). Half signed in, or without the second factor one's role needs: a redirect
    to that step (back here after, for a GET), and nothing of the endpoint runs. Signed in
    with a role too low: a readable 403 page.
    """
    if role not in roles.ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {roles.ROLES}")

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            session = await current_session(request)
            if session is None:
                if request.method in {"GET", "HEAD"}:
                    return _login_redirect(request)
                return render_review(request, "review/forbidden.html", {
                    "signed_out": True, "login_url": _login_url_for(request),
                }, 401)
            step = second_step(request, session)
            if step is not None:
                # Half signed in, or a second factor still to set up: nothing else opens.
                back = _here(request) if request.method in {"GET", "HEAD"} else None
                return no_store(RedirectResponse(with_next(step, safe_next(back)), 303))
            reviewer = session.reviewer
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


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        path=COOKIE_PATH,
        secure=settings_of(request).base_url.startswith("https"),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path=COOKIE_PATH,
        secure=settings_of(request).base_url.startswith("https"),
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


LOGIN_ACCOUNT_RULES = (ratelimit.Rule.LOGIN_ACCOUNT_IP, ratelimit.Rule.LOGIN_ACCOUNT_IP_DAY)


async def login_submit(request: Request) -> Response:
    settings_of(request)
    form = await read_small_form(request)
    email = form.get("email").strip()
    password = form.get("password")
    next_path = safe_next(form.get("next"))
    limits, ip = abuse.limiter(request), abuse.client_ip(request)
    try:
        if not email or not password:
            raise auth.AuthError("Enter your email and your password.")
        # Checked before the (deliberately slow) Argon2 hash; only failures count: per
        # address, and per account from that address (never the account as a whole).
        account = auth.lookup_key(email)
        await limits.check(ratelimit.Rule.LOGIN_IP, ip)
        for rule in LOGIN_ACCOUNT_RULES:
            await limits.check(rule, account, ip)
        try:
            reviewer = await auth.authenticate(email, password)
        except auth.AuthError:
            await limits.count(ratelimit.Rule.LOGIN_IP, ip)
            for rule in LOGIN_ACCOUNT_RULES:
                await limits.count(rule, account, ip)
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
    return await start_signed_in(request, reviewer, next_path)


async def start_signed_in(request: Request, reviewer: Reviewer, next_path: str | None, *,
                          offer_enrolment: bool = False) -> Response:
    """The password is right (or was just chosen through a link): a new session, pending
    when a second step must follow, and the way to that step or to the desk (or to setting
    up a second factor, when ``offer_enrolment`` and the reviewer has none)."""
    # A new session id at every sign-in; whatever session this browser had ends.
    await auth.end_session(request.cookies.get(SESSION_COOKIE))
    must_enrol = second_factor.needs_enrolment(reviewer, settings_of(request).require_2fa)
    if second_factor.enrolled(reviewer):
        target = with_next(CODE_PATH, next_path)
    elif must_enrol or offer_enrolment:
        target = with_next(ENROL_PATH, next_path)
    else:
        target = next_path or HOME_PATH
    token = await auth.start_session(
        reviewer, pending=second_factor.enrolled(reviewer) or must_enrol,
        user_agent=request.headers.get("user-agent", ""))
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, token)
    return no_store(response)


async def finish_second_step(request: Request, session: ReviewerSession,
                             response: Response) -> Response:
    """The second step done: the pending session becomes a full one under a new token,
    which ``response`` sets in the cookie."""
    try:
        token = await auth.complete_second_step(session)
    except auth.AuthError:  # ended meanwhile (a second tab, a lock, an admin)
        return no_store(RedirectResponse(LOGIN_PATH, status_code=303))
    set_session_cookie(response, request, token)
    return no_store(response)


WRONG_CODE = ("That code is wrong or was used already. Codes change every 30 seconds: "
              "type the one your app shows now.")
WRONG_RECOVERY_CODE = "That is not one of your unused recovery codes."


def _code_page(request: Request, next_path: str | None, error: str | None = None,
               status: int = 200, *, recovery: bool = False,
               ended: bool = False) -> Response:
    return render_review(request, "review/login_code.html", {
        "next": next_path, "error": error, "recovery": recovery, "ended": ended,
        "reviewer": None,
    }, status)


async def _pending_or_elsewhere(request: Request,
                                next_path: str | None) -> ReviewerSession | Response:
    """The pending session of a reviewer with a second factor, or where to go instead."""
    session = await current_session(request)
    if session is None:
        return no_store(RedirectResponse(with_next(LOGIN_PATH, next_path), status_code=303))
    step = second_step(request, session)
    if step != CODE_PATH:
        return no_store(RedirectResponse(with_next(step, next_path) if step
                                         else next_path or HOME_PATH, status_code=303))
    return session


async def code_form(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    found = await _pending_or_elsewhere(request, next_path)
    if isinstance(found, Response):
        return found
    return _code_page(request, next_path)


async def code_submit(request: Request) -> Response:
    """The second step: a code from the app, or a recovery code. A wrong one counts as a
    wrong password, for the account's lock and for the address's limit."""
    form = await read_small_form(request)
    next_path = safe_next(form.get("next"))
    found = await _pending_or_elsewhere(request, next_path)
    if isinstance(found, Response):
        return found
    session, reviewer = found, found.reviewer
    recovery = form.get("recovery_code").strip()
    code = form.get("code").strip()
    limits, ip = abuse.limiter(request), abuse.client_ip(request)
    locked = auth.locked_message(reviewer)
    if locked:
        await auth.end_session(request.cookies.get(SESSION_COOKIE))
        response = _code_page(request, next_path, locked, 422, ended=True)
        clear_session_cookie(response, request)
        return response
    if not code and not recovery:
        return _code_page(request, next_path, "Enter the code your app shows.", 422)
    try:
        await limits.check(ratelimit.Rule.LOGIN_IP, ip)
    except ratelimit.RateLimited as refusal:
        minutes = f"{refusal.minutes} minute{'s' if refusal.minutes != 1 else ''}"
        refused = _code_page(request, next_path, "Too many failed sign-ins from this network. "
                             f"Your code was not checked. Try again in {minutes}, after "
                             f"{format_when(refusal.until)}.", 429, recovery=bool(recovery))
        refused.headers["retry-after"] = str(refusal.retry_after)
        return refused
    if recovery:
        right = await second_factor.use_recovery_code(reviewer, recovery) is not None
    else:
        right = await second_factor.check_code(reviewer, code)
    if not right:
        await limits.count(ratelimit.Rule.LOGIN_IP, ip)
        lock = await auth.second_step_failed(reviewer)
        if lock:
            response = _code_page(request, next_path, lock, 422, ended=True)
            clear_session_cookie(response, request)
            return response
        return _code_page(request, next_path, WRONG_RECOVERY_CODE if recovery else WRONG_CODE,
                          422, recovery=bool(recovery))
    # After a recovery code, the account page says how many are left and offers new ones.
    target = "/review/account?notice=recovery-code-used" if recovery else next_path or HOME_PATH
    return await finish_second_step(request, session, RedirectResponse(target, 303))


async def logout(request: Request) -> Response:
    settings_of(request)
    await read_small_form(request)
    await auth.end_session(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    clear_session_cookie(response, request)
    return no_store(response)


def routes() -> list[Route]:
    return [
        Route(LOGIN_PATH, login_form, methods=["GET"], name="review_login"),
        Route(LOGIN_PATH, login_submit, methods=["POST"]),
        Route(CODE_PATH, code_form, methods=["GET"], name="review_login_code"),
        Route(CODE_PATH, code_submit, methods=["POST"]),
        Route("/review/logout", logout, methods=["POST"], name="review_logout"),
    ]
