"""A reviewer's own account, and the page an emailed link opens.

- ``/review/account``: the reviewer's signed-in sessions (when each started, which browser,
  when it was last used), with a button to end any of them; the state of their second
  factor and how many recovery codes are left, and new recovery codes for a current code.
- ``/review/account/two-factor``: setting up the second factor. The QR code is SVG drawn
  here (segno) and written into the page itself, so no image leaves the server and the
  CSP needs nothing more; the secret is shown as text too, for password managers and apps
  without a camera. The first code confirms it; the ten recovery codes are then shown,
  once. Reached half signed in by whoever must set one up (the password is right, nothing
  else is open), or from the account page by anyone.
- ``/review/invitation/{invitation}``: choosing one's password through a link (an
  invitation or an admin's reset), then the usual next step of signing in.
"""

from __future__ import annotations

import segno
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from support.accounts import auth, invitations, second_factor
from support.data.models import ReviewerSession
from support.platform import ratelimit
from support.web import abuse, params
from support.web.auth import (
    CODE_PATH,
    ENROL_PATH,
    HOME_PATH,
    LOGIN_PATH,
    WRONG_CODE,
    clear_session_cookie,
    current_session,
    finish_second_step,
    no_store,
    render_review,
    requires,
    safe_next,
    second_step,
    start_signed_in,
    with_next,
)
from support.web.forms import read_small_form

ACCOUNT_PATH = "/review/account"
NOTICES = {
    "session-ended": "That session has ended: whoever used it is signed out.",
    "recovery-code-used": "You signed in with a recovery code, and it cannot be used again.",
}


def qr_svg(uri: str) -> Markup:
    """The QR code of ``uri`` as inline SVG: paths and fills only (no style attribute, no
    script), with a title naming it for screen readers."""
    svg = segno.make(uri, error="m").svg_inline(
        scale=5, dark="#000", light="#fff", svgclass="qr",
        title="QR code to scan with your authenticator app")
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S704 - segno's own markup, no input but the URI it encodes


# The account page


async def _account_page(request: Request, error: str = "", status: int = 200) -> Response:
    reviewer = request.state.reviewer
    current = request.state.review_session
    sessions = await auth.live_sessions(reviewer)
    return render_review(request, "review/account.html", {
        "sessions": [(s, auth.browser_label(s.user_agent), s.id == current.id)
                     for s in sessions],
        "enrolled": second_factor.enrolled(reviewer),
        "must_have": second_factor.must_have(reviewer, request.app.state.settings.require_2fa),
        "codes_left": await second_factor.recovery_codes_left(reviewer),
        "notice": NOTICES.get(request.query_params.get("notice", ""), ""),
        "error": error,
    }, status)


@requires("reviewer")
async def account(request: Request) -> Response:
    return await _account_page(request)


@requires("reviewer")
async def end_session(request: Request) -> Response:
    await read_small_form(request)
    session_id = params.path_id(request, "session_id")
    reviewer = request.state.reviewer
    if session_id is None or not await auth.end_own_session(reviewer, session_id):
        return render_review(request, "errors/404.html", {}, 404)
    if session_id == request.state.review_session.id:  # this browser: signed out
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        clear_session_cookie(response, request)
        return response
    return RedirectResponse(f"{ACCOUNT_PATH}?notice=session-ended", status_code=303)


@requires("reviewer")
async def renew_recovery_codes(request: Request) -> Response:
    """Ten new codes, for a code from the app: a session alone (a borrowed computer) must
    not be enough to mint a way back in."""
    form = await read_small_form(request)
    reviewer = request.state.reviewer
    if not second_factor.enrolled(reviewer):
        return RedirectResponse(ENROL_PATH, status_code=303)
    limits, ip = abuse.limiter(request), abuse.client_ip(request)
    try:
        await limits.check(ratelimit.Rule.LOGIN_IP, ip)
    except ratelimit.RateLimited:
        return await _account_page(request, "Too many wrong codes from this network. "
                                   "Try again later.", 429)
    if not await second_factor.check_code(reviewer, form.get("code")):
        await limits.count(ratelimit.Rule.LOGIN_IP, ip)
        return await _account_page(request, WRONG_CODE, 422)
    codes = await second_factor.renew_recovery_codes(reviewer)
    return render_review(request, "review/recovery_codes.html", {
        "codes": codes, "continue_to": ACCOUNT_PATH, "renewed": True,
    })


# Setting up the second factor


async def _enrolling(request: Request, next_path: str | None) -> ReviewerSession | Response:
    """The session of a reviewer without a second factor (pending or not), or where to go."""
    session = await current_session(request)
    if session is None:
        return no_store(RedirectResponse(with_next(LOGIN_PATH, with_next(ENROL_PATH, next_path)),
                                         status_code=303))
    if second_step(request, session) == CODE_PATH:
        return no_store(RedirectResponse(with_next(CODE_PATH, next_path), status_code=303))
    if second_factor.enrolled(session.reviewer):
        return no_store(RedirectResponse(ACCOUNT_PATH, status_code=303))
    return session


async def _enrol_page(request: Request, session: ReviewerSession, next_path: str | None,
                      error: str = "", status: int = 200) -> Response:
    reviewer = session.reviewer
    secret = await second_factor.start_enrolment(reviewer)
    uri = second_factor.provisioning_uri(reviewer, secret)
    return render_review(request, "review/two_factor.html", {
        "qr": qr_svg(uri), "secret": secret,
        "issuer": second_factor.ISSUER, "account_name": reviewer.email, "next": next_path,
        "error": error, "pending": session.pending,
        "required": second_factor.must_have(reviewer, request.app.state.settings.require_2fa),
        # Half signed in, the page names nobody and offers only "Sign out".
        "reviewer": None if session.pending else reviewer,
    }, status)


async def enrol_form(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    found = await _enrolling(request, next_path)
    if isinstance(found, Response):
        return found
    return await _enrol_page(request, found, next_path)


async def enrol_submit(request: Request) -> Response:
    form = await read_small_form(request)
    next_path = safe_next(form.get("next"))
    found = await _enrolling(request, next_path)
    if isinstance(found, Response):
        return found
    session, reviewer = found, found.reviewer
    codes = await second_factor.confirm_enrolment(reviewer, form.get("code"))
    if codes is None:
        return await _enrol_page(request, session, next_path,
                                 "That code does not match. Check that the app added the "
                                 "account, then type the code it shows now.", 422)
    continue_to = next_path or HOME_PATH
    page = render_review(request, "review/recovery_codes.html", {
        "codes": codes, "continue_to": continue_to, "renewed": False, "reviewer": reviewer,
    })
    if not session.pending:
        return page
    # Half signed in until now: the same answer carries the full session's new cookie.
    return await finish_second_step(request, session, page)


# Links from emails


def _unusable(request: Request) -> Response:
    return render_review(request, "review/link_unusable.html", {
        "message": invitations.UNUSABLE, "reviewer": None,
    }, 404)


async def invitation_form(request: Request) -> Response:
    link = await invitations.find(request.path_params["invitation"])
    if link is None:
        return _unusable(request)
    return render_review(request, "review/invitation.html", {
        "link": link, "invitee": link.reviewer, "error": "", "reviewer": None,
    })


async def invitation_submit(request: Request) -> Response:
    form = await read_small_form(request)
    token = request.path_params["invitation"]
    link = await invitations.find(token)
    if link is None:
        return _unusable(request)
    password, again = form.get("password"), form.get("password_again")
    error = ""
    if password != again:
        error = "The two passwords differ. Type the same password twice."
    else:
        try:
            reviewer = await invitations.use(token, password)
        except auth.AuthError as refusal:
            if refusal.message == invitations.UNUSABLE:
                return _unusable(request)
            error = refusal.message
    if error:
        return render_review(request, "review/invitation.html", {
            "link": link, "invitee": link.reviewer, "error": error, "reviewer": None,
        }, 422)
    # As after a password: the code, or setting up the second factor (offered to those
    # who need not have one), or the desk.
    return await start_signed_in(request, reviewer, None, offer_enrolment=True)


def routes() -> list[Route]:
    return [
        Route(ACCOUNT_PATH, account, methods=["GET"], name="review_account"),
        Route(ACCOUNT_PATH + "/sessions/{session_id:int}/end", end_session, methods=["POST"]),
        Route(ACCOUNT_PATH + "/recovery-codes", renew_recovery_codes, methods=["POST"]),
        Route(ENROL_PATH, enrol_form, methods=["GET"], name="review_two_factor"),
        Route(ENROL_PATH, enrol_submit, methods=["POST"]),
        Route("/review/invitation/{invitation}", invitation_form, methods=["GET"],
              name="review_invitation"),
        Route("/review/invitation/{invitation}", invitation_submit, methods=["POST"]),
    ]
