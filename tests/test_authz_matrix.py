"""Who may do what, on every route: one matrix generated from ``support.app.routes()``.

Seven principals, each with their own browser (cookie jar, CSRF cookie included, so a
refusal is about who they are and never about the form):

- ``anonymous``: nothing but the CSRF cookie every visitor gets;
- ``token_a``: the applicant of application A, holding A's status token (and, while A is
  unconfirmed, A's code, sent to A's phone);
- ``token_b``: the applicant of another application B, holding B's token and B's code;
- ``reviewer``: a reviewer whose queues include A; ``lead``; ``admin``;
- ``other_queue``: a reviewer of A's kind but another country, so A is outside their queues;
- ``half_signed_in``: a reviewer who gave their password and not yet the code from their
  app: a session that must open nothing but that step (and signing out);
- ``must_enrol``: a lead without a second factor who gave their password: nothing opens
  but setting one up.

Path parameters are A's (its reference, its document, ...). A status token travels in the
path of the ``/status/{token}`` routes, so there each principal puts in the path what they
have: A's holder A's token, B's holder B's token (and must get B's page, never A's), and
everyone else the one thing of A's they could know, its reference. On the desk the token
holders present their token as the session cookie: a status token must open nothing there.
The reviewers' session cookie goes with every request, the applicant pages included.

Every (method, path) must have a row in ``EXPECTED`` or ``test_every_route_has_a_row``
fails: nobody adds an unprotected route by accident. A row is one line, built by
``everyone``, ``holders`` or ``desk``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx2
import pytest
from starlette.routing import BaseRoute, Mount, Route

from support.accounts import auth, invitations
from support.app import routes
from support.data.models import (
    AccessToken,
    Application,
    CannedResponse,
    Document,
    Event,
    Notification,
    Permission,
    Reviewer,
    ReviewerSession,
    Status,
    Verification,
)
from support.platform import tokens
from support.web.api.registry import SCOPES
from support.workflow import api_keys, webhooks
from tests.conftest import BASE, UNLOCK, hidden_fields, jpeg_bytes
from tests.factories import make_application, page_version
from tests.kept import kept

PRINCIPALS = ("anonymous", "token_a", "token_b", "reviewer", "lead", "admin", "other_queue",
              "half_signed_in", "must_enrol")
APPLICANTS = ("anonymous", "token_a", "token_b")
STAFF = ("reviewer", "lead", "admin", "other_queue")
HALF = ("half_signed_in", "must_enrol")  # the password given, the second step not done
# Principals who may change A: its applicant and the desk. The others must leave it as it was.
MAY_CHANGE_A = {"token_a", "reviewer", "lead", "admin"}

SIGN_IN = "sign in"  # signed out on the desk: a GET goes to sign-in, anything else is a 401
LOGIN = (303, "/review/login?next=")
TO_CODE = (303, "/review/login/code")  # half signed in: to the second step, whatever was asked
TO_ENROL = (303, "/review/account/two-factor")  # a second factor to set up first
REFUSED = {401, 403, 404}

Cell = int | tuple[int, str] | str


def everyone(value: Cell, **overrides: Cell) -> dict[str, Cell]:
    """A public route: the same answer for all, except the overrides."""
    return {name: overrides.get(name, value) for name in PRINCIPALS}


def holders(value: Cell) -> dict[str, Cell]:
    """A ``/status/{token}`` route: each token opens its own application (B's holder gets
    B's, checked below); A's reference in place of the token opens nothing."""
    return everyone(404, token_a=value, token_b=value)


def desk(value: Cell, **overrides: Cell) -> dict[str, Cell]:
    """A desk route: applicants are signed out, the half signed in are sent to their second
    step; staff get ``value`` unless overridden."""
    defaults: dict[str, Cell] = {"half_signed_in": TO_CODE, "must_enrol": TO_ENROL,
                                 **dict.fromkeys(APPLICANTS, SIGN_IN)}
    return {name: overrides.get(name, defaults.get(name, value)) for name in PRINCIPALS}


REF = "/review/applications/{reference}"
DOC = "/review/documents/{document_id:int}"
TOKEN = "/status/{token}"
ENROL = "/review/account/two-factor"
INVITATION = "/review/invitation/{invitation}"
# The routes a half-signed-in session may use, besides signing in and out.
SECOND_STEP = {"/review/login/code", ENROL, INVITATION}
BACK = (303, "/review/applications/")
TO_STATUS = (303, "/status/")
ADMIN_ONLY = desk(403, admin=200)
LEADS = desk(403, lead=200, admin=200)

EXPECTED: dict[tuple[str, str], dict[str, Cell]] = {
    # The applicant's side: public pages.
    ("GET", "/"): everyone(200),
    ("GET", "/healthz"): everyone(200),
    # The matrix's client is on this machine; the proxy and token cases: test_metrics.py.
    ("GET", "/metrics"): everyone(200),
    ("GET", "/apply/{kind}"): everyone(200),
    ("POST", "/apply/{kind}"): everyone((303, "/applications/")),
    # By reference only, by design: the code goes to A's phone, and only A has it.
    ("GET", "/applications/{reference}/verify"): everyone(200),
    ("POST", "/applications/{reference}/verify"): everyone(422, token_a=TO_STATUS),
    ("POST", "/applications/{reference}/verify/resend"): everyone(200),
    ("GET", "/applications/{reference}/verify/resend"): everyone((303, "/applications/")),
    ("GET", "/status"): everyone(200),
    ("POST", "/status"): everyone(200),  # the same page whether or not anything matched
    # The private status link.
    ("GET", TOKEN): holders(200),
    ("GET", TOKEN + "/withdraw"): holders(200),
    ("POST", TOKEN + "/withdraw"): holders(TO_STATUS),
    ("GET", TOKEN + "/erase"): holders(200),
    ("POST", TOKEN + "/erase"): holders(TO_STATUS),
    ("POST", TOKEN + "/reply"): holders(TO_STATUS),
    ("GET", TOKEN + "/reply"): everyone(TO_STATUS),  # to the page of the form; no look-up
    ("GET", TOKEN + "/appeal"): holders(200),
    ("POST", TOKEN + "/appeal"): holders(TO_STATUS),
    # A's and B's holders may open the other end of an appeal; neither has one, so nothing
    # opens for anyone (test_where_they_stand.py follows a real one both ways).
    ("GET", TOKEN + "/linked"): everyone(404),
    # A corrected email, once, confirmed by a code sent to it (test_email_correction.py).
    ("GET", TOKEN + "/email"): holders(200),
    ("POST", TOKEN + "/email"): holders(TO_STATUS),  # to the page that asks for the code
    ("POST", TOKEN + "/email/confirm"): holders(422),  # no code posted
    ("POST", TOKEN + "/email/resend"): holders(409),  # nothing waits for a code
    # The maker's API (tests/test_api_*.py): these are public; the rest need a service key,
    # which no principal here holds (401 for all).
    ("GET", "/api/v1/keys"): everyone(200),
    ("GET", "/api/v1/openapi.json"): everyone(200),
    ("GET", "/api/docs"): everyone(200),
    ("GET", "/api/v1/accounts/{account_id}/permission"): everyone(401),
    ("POST", "/api/v1/accounts/{account_id}/permission/redeem"): everyone(401),
    ("POST", "/api/v1/applications"): everyone(401),
    ("GET", "/api/v1/applications/{reference}"): everyone(401),
    ("POST", "/api/v1/applications/{reference}/confirm"): everyone(401),
    ("POST", "/api/v1/applications/{reference}/confirm/resend"): everyone(401),
    # Signing in and out.
    ("GET", "/review/login"): everyone(200, **dict.fromkeys(STAFF, (303, "/review/queue"))),
    ("POST", "/review/login"): everyone(422),  # a wrong password, whoever sends it
    ("POST", "/review/logout"): everyone((303, "/review/login")),
    # The second step: only for the half signed in (a wrong code here: 422).
    ("GET", "/review/login/code"): everyone((303, "/review/login"), half_signed_in=200,
                                            must_enrol=TO_ENROL,
                                            **dict.fromkeys(STAFF, (303, "/review/queue"))),
    ("POST", "/review/login/code"): everyone((303, "/review/login"), half_signed_in=422,
                                             must_enrol=TO_ENROL,
                                             **dict.fromkeys(STAFF, (303, "/review/queue"))),
    # Setting up a second factor: whoever has none (staff here all have one).
    ("GET", ENROL): everyone(LOGIN, half_signed_in=TO_CODE, must_enrol=200,
                             **dict.fromkeys(STAFF, (303, "/review/account"))),
    ("POST", ENROL): everyone((303, "/review/login"), half_signed_in=TO_CODE, must_enrol=422,
                              **dict.fromkeys(STAFF, (303, "/review/account"))),
    # A link from an email: whoever holds it chooses the invitee's password (and is then
    # offered to set up a second factor as them).
    ("GET", INVITATION): everyone(200),
    ("POST", INVITATION): everyone(TO_ENROL),
    # Each reviewer's own account; the session ended is one of the principal's own.
    ("GET", "/review/account"): desk(200),
    ("POST", "/review/account/sessions/{session_id:int}/end"): desk(
        (303, "/review/account?notice=session-ended")),
    ("POST", "/review/account/recovery-codes"): desk(422),  # a wrong code
    # The desk.
    ("GET", "/review"): desk((303, "/review/queue")),
    ("GET", "/review/queue"): desk(200),
    ("GET", "/review/queue.csv"): desk(200),  # each their own queues (test_exports.py)
    ("GET", "/review/mine"): desk(200),  # each their own work
    ("GET", "/review/mail"): desk(200),  # mail that reached no application: every reviewer
    ("POST", "/review/queue/bulk"): LEADS,  # the page of what happened to each
    ("POST", "/review/next"): desk(BACK, other_queue=(303, "/review/queue?notice=empty")),
    ("GET", REF): desk(200, other_queue=404),
    ("POST", REF + "/claim"): desk(BACK, other_queue=404),
    ("POST", REF + "/release"): desk((303, "/review/queue?notice=released"), other_queue=404),
    ("POST", REF + "/reassign"): desk(403, lead=BACK, admin=BACK),
    # A's permission (it is approved for this row) revoked with a reason: leads and admins.
    ("POST", REF + "/permission/revoke"): desk(403, lead=BACK, admin=BACK),
    ("POST", REF + "/notes"): desk(BACK, other_queue=404),
    ("POST", REF + "/decide"): desk(BACK, other_queue=404),
    ("GET", DOC): desk(200, other_queue=404),
    ("GET", DOC + "/thumbnail"): desk(200, other_queue=404),  # drawn with the page: no view
    # A's document is a photo: no pages to draw (test_document_viewer.py draws a PDF's).
    ("GET", DOC + "/pages/{page:int}"): desk(404, other_queue=404),
    # Who else has it open: the page's poll (JSON) and its leave beacon.
    ("GET", REF + "/presence"): desk(200, other_queue=404),
    ("POST", REF + "/presence/leave"): desk(204, other_queue=404),
    # Leads and admins.
    ("GET", "/review/admin/deliveries"): LEADS,
    ("POST", "/review/admin/deliveries/{notification_id:int}/retry"): desk(
        403, lead=(303, "/review/admin/deliveries?notice=retrying"),
        admin=(303, "/review/admin/deliveries?notice=retrying")),
    ("GET", "/review/reports"): LEADS,
    ("GET", "/review/reports.csv"): LEADS,
    # Admins only.
    ("GET", "/review/admin/reviewers"): ADMIN_ONLY,
    ("POST", "/review/admin/reviewers"): desk(
        403, admin=(303, "/review/admin/reviewers?notice=invited")),
    ("GET", "/review/admin/reviewers/{reviewer_id:int}"): ADMIN_ONLY,
    ("POST", "/review/admin/reviewers/{reviewer_id:int}"): desk(
        403, admin=(303, "/review/admin/reviewers/")),
    ("POST", "/review/admin/reviewers/{reviewer_id:int}/deactivate"): desk(
        403, admin=(303, "/review/admin/reviewers?notice=deactivated")),
    ("POST", "/review/admin/reviewers/{reviewer_id:int}/link"): desk(
        403, admin=(303, "/review/admin/reviewers?notice=link-sent")),
    ("POST", "/review/admin/reviewers/{reviewer_id:int}/second-factor/reset"): desk(
        403, admin=(303, "/review/admin/reviewers?notice=second-factor-reset")),
    ("POST", "/review/admin/reviewers/{reviewer_id:int}/sessions/end"): desk(
        403, admin=(303, "/review/admin/reviewers?notice=sessions-ended")),
    ("GET", "/review/admin/responses"): ADMIN_ONLY,
    ("POST", "/review/admin/responses"): desk(
        403, admin=(303, "/review/admin/responses?notice=saved")),
    ("POST", "/review/admin/responses/{response_id:int}"): desk(
        403, admin=(303, "/review/admin/responses?notice=saved")),
    ("GET", "/review/admin/audit"): ADMIN_ONLY,
    # The maker's endpoints and service keys: admins only. A new one answers with its
    # secret on the page (200), shown that once.
    ("GET", "/review/admin/webhooks"): ADMIN_ONLY,
    ("POST", "/review/admin/webhooks"): desk(403, admin=200),
    ("POST", "/review/admin/webhooks/{endpoint_id:int}/disable"): desk(
        403, admin=(303, "/review/admin/webhooks?notice=disabled")),
    ("GET", "/review/admin/api-keys"): ADMIN_ONLY,
    ("POST", "/review/admin/api-keys"): desk(403, admin=201),
    ("GET", "/review/admin/api-keys/{key_id:int}/revoke"): ADMIN_ONLY,
    ("POST", "/review/admin/api-keys/{key_id:int}/revoke"): desk(
        403, admin=(303, "/review/admin/api-keys?notice=revoked")),
}

# The state A (and B) must be in for the route to make sense to whoever may use it.
STATES: dict[str, Status] = {
    "/applications/{reference}/verify": Status.SUBMITTED,
    "/applications/{reference}/verify/resend": Status.SUBMITTED,
    TOKEN + "/reply": Status.NEEDS_INFO,
    TOKEN + "/appeal": Status.REJECTED,
    REF + "/release": Status.IN_REVIEW,
    REF + "/reassign": Status.IN_REVIEW,
    REF + "/decide": Status.IN_REVIEW,
    REF + "/permission/revoke": Status.APPROVED,
    "/review/queue/bulk": Status.IN_REVIEW,
}
CANNED = {"kind": "unlock", "action": "approve", "title": "Approved",
          "body": "Your request is approved."}
FORMS: dict[str, dict[str, str]] = {
    "/status": {"reference": "{reference}", "contact": "{email}"},
    TOKEN + "/reply": {"message": "Here is the receipt you asked for, thank you."},
    TOKEN + "/email": {"email": "corrected@example.org"},
    TOKEN + "/appeal": {**UNLOCK, "reason": UNLOCK["reason"] + " I now run a developer build."},
    "/review/login": {"email": "somebody@example.com", "password": "not the password at all"},
    # Five digits: never a code, whatever the clock says.
    "/review/login/code": {"code": "12345"},
    ENROL: {"code": "12345"},
    "/review/account/recovery-codes": {"code": "12345"},
    INVITATION: {"password": "a long enough password", "password_again": "a long enough password"},
    REF + "/notes": {"note": "Checked the receipt against the account."},
    REF + "/decide": {"action": "approve", "message": "Your request is approved.",
                      "seen": "{seen}"},
    REF + "/reassign": {"reviewer_id": "{target}"},
    REF + "/permission/revoke": {"reason": "The receipt was made for another phone."},
    "/review/queue/bulk": {"action": "release", "reference": "{reference}"},
    REF + "/presence/leave": {"mark": "2026-12-06T06:00:00+00:00"},
    "/review/admin/reviewers/{reviewer_id:int}": {"role": "lead", "kinds": "unlock",
                                                  "countries": "IN"},
    "/review/admin/reviewers": {"email": "new.reviewer@example.com", "name": "New Reviewer",
                                "role": "reviewer", "kinds": "unlock", "countries": ""},
    "/review/admin/responses": CANNED,
    "/review/admin/webhooks": {"url": "https://maker.example/hooks",
                               "events": "permission.granted"},
    "/review/admin/api-keys": {"name": "unlock-service", "scopes": "permissions:read"},
    "/review/admin/responses/{response_id:int}": {**CANNED, "title": "Approved (edited)"},
}
QUERIES: dict[str, str] = {"/review/reports.csv": "?table=decisions"}
CODE_A, CODE_B = "482913", "731640"


async def attach(settings: Any, application: Application, content: bytes,
                 name: str = "receipt.jpg", content_type: str = "image/jpeg") -> Document:
    """A stored document, written where the store keeps it."""
    key = secrets.token_urlsafe(24)
    kept(settings, key).write_bytes(content)
    return await Document.create(
        application=application, purpose="receipt", content_type=content_type,
        size=len(content), sha256="0" * 64, storage_key=key, original_name=name,
    )


# The route table

def _walk(entries: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str] | Mount]:
    for entry in entries:
        if isinstance(entry, Route):
            for method in sorted((entry.methods or {"GET"}) - {"HEAD"}):
                yield method, prefix + entry.path
        elif isinstance(entry, Mount) and entry.routes:
            yield from _walk(list(entry.routes), prefix + entry.path)
        elif isinstance(entry, Mount):
            yield entry  # an app mounted whole: checked on its own
        else:
            raise AssertionError(f"a route of an unknown type: {entry!r}")


def route_table() -> tuple[set[tuple[str, str]], list[Mount]]:
    found: set[tuple[str, str]] = set()
    mounts: list[Mount] = []
    for item in _walk(routes()):
        if isinstance(item, Mount):
            mounts.append(item)
        else:
            found.add(item)
    return found, mounts


def test_every_route_has_a_row():
    found, mounts = route_table()
    missing = sorted(found - set(EXPECTED))
    assert not missing, f"routes without a row in EXPECTED (add one line each): {missing}"
    stale = sorted(set(EXPECTED) - found)
    assert not stale, f"EXPECTED lists routes that no longer exist: {stale}"
    assert [m.path for m in mounts] == ["/static"], "an app is mounted whole: check it here"
    for (method, path), cells in EXPECTED.items():
        assert set(cells) == set(PRINCIPALS), (method, path)


def test_the_desk_refuses_whoever_is_not_signed_in_and_admin_pages_plain_reviewers():
    for (method, path), cells in EXPECTED.items():
        if path == "/review" or path.startswith("/review/") and path not in {
                "/review/login", "/review/logout", *SECOND_STEP}:
            for name in APPLICANTS:
                assert cells[name] == SIGN_IN, (method, path, name)
            # Half signed in opens nothing: every desk route sends them to their step.
            assert cells["half_signed_in"] == TO_CODE, (method, path)
            assert cells["must_enrol"] == TO_ENROL, (method, path)
        if path.startswith("/review/admin") or path.startswith("/review/reports"):
            for name in ("reviewer", "other_queue"):
                assert cells[name] == 403, (method, path, name)


# One cell

@dataclass
class World:
    a: Application
    b: Application
    token_a: str
    token_b: str
    document: Document
    target: Reviewer
    canned: CannedResponse
    notification: Notification
    invitation: str  # the link's token, for an invited reviewer who has no password yet
    target_session: int  # a session of the target's
    api_key: int  # a service key in use, and a maker's endpoint, for the admin pages
    endpoint: int
    own_session: int | None = None  # a second session of the principal's own


@dataclass
class Browser:
    name: str
    client: httpx2.AsyncClient
    reviewer: Reviewer | None

    async def csrf(self) -> str:
        if "support_csrf" not in self.client.cookies:
            await self.client.get("/")
        return str(self.client.cookies["support_csrf"])


async def browser_for(name: str, client: httpx2.AsyncClient, desk_: Any) -> Browser:
    if name in APPLICANTS:
        return Browser(name, client, None)
    if name == "other_queue":
        signed = await desk_.reviewer("Other Queue", kinds=["unlock"], countries=["RU"])
    elif name == "half_signed_in":
        signed = await desk_.reviewer("Half Signed", pending=True)
    elif name == "must_enrol":
        signed = await desk_.reviewer("Must Enrol", role="lead", enrolled=False, pending=True)
    else:
        signed = await desk_.reviewer(name.title(), role=name)
    return Browser(name, signed.client, signed.reviewer)


async def new_token(application: Application) -> str:
    token = tokens.new_status_token()
    await AccessToken.create(application=application, token_hash=tokens.token_hash(token))
    return token


async def _application(settings: Any, status: Status, holder: Reviewer, code: str) -> Application:
    """An unlock application in India, in the state a route needs."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {"kind": "unlock", "country": "IN", "status": status}
    if status is Status.SUBMITTED:
        values.update(verified_at=None, due_at=None)
    elif status is Status.IN_REVIEW:
        values.update(assignee=holder, claimed_at=now, last_activity_at=now)
    elif status is Status.NEEDS_INFO:
        values.update(info_request={"items": ["receipt"], "message": "The receipt, please.",
                                    "reviewer_id": holder.id}, info_requested_at=now)
    elif status is Status.REJECTED:
        values.update(decided_at=now, decided_by=holder, decision_code="stable_firmware",
                      decision_text="Not on a stable build.")
    elif status is Status.APPROVED:  # an unlock's permission, live
        values.update(decided_at=now, decided_by=holder, decision_text="Approved.",
                      permission_expires_at=now + timedelta(days=14))
    application = await make_application(**values)
    if status is Status.APPROVED:
        await Permission.create(application=application, account_id=application.account_id,
                                model=application.model, granted_at=now,
                                expires_at=now + timedelta(days=14))
    if status is Status.SUBMITTED:
        await Verification.create(
            application=application, expires_at=now + timedelta(hours=1),
            code_hash=tokens.code_hash(settings.secret_key, application.reference, code),
            last_sent_at=now - timedelta(hours=1),
        )
    return application


async def make_world(settings: Any, desk_: Any, path: str, holder: Reviewer) -> World:
    status = STATES.get(path, Status.QUEUED)
    a = await _application(settings, status, holder, CODE_A)
    b = await _application(settings, status, holder, CODE_B)
    document = await attach(settings, a, jpeg_bytes())
    await attach(settings, b, jpeg_bytes((40, 40)), name="b-receipt.jpg")
    now = datetime.now(UTC)
    target = (await desk_.reviewer("Target")).reviewer
    invitee = await auth.create_reviewer(f"invitee{secrets.token_hex(4)}@example.com",
                                         "Invitee", "reviewer", None)
    return World(
        a=a, b=b, token_a=await new_token(a), token_b=await new_token(b), document=document,
        target=target,
        invitation=await invitations.issue(invitee, invitations.INVITATION, None),
        target_session=(await ReviewerSession.get(reviewer_id=target.id)).id,
        canned=await CannedResponse.create(kind="unlock", action="approve", title="Yes",
                                           body="Approved."),
        api_key=(await api_keys.create(f"key-{secrets.token_hex(4)}", ["permissions:read"],
                                       SCOPES, by="test")).row.id,
        endpoint=(await webhooks.register(f"https://maker.example/{secrets.token_hex(4)}",
                                          ["permission.granted"], by="test")).endpoint.id,
        notification=await Notification.create(
            application=a, channel="email", recipient=a.email, template="received",
            context={}, next_attempt_at=now, status="dead", attempts=6,
            idempotency_key=f"authz-{a.id}.email"),
    )


def fill(path: str, world: World, principal: str) -> str:
    """The route's path with A's values, each as this principal can present it."""
    token = {"token_a": world.token_a, "token_b": world.token_b}.get(principal,
                                                                      world.a.reference)
    values = {"reference": world.a.reference, "token": token, "kind": "unlock",
              "account_id": world.a.account_id, "endpoint_id": str(world.endpoint),
              "key_id": str(world.api_key),
              "document_id": str(world.document.id), "reviewer_id": str(world.target.id),
              "response_id": str(world.canned.id), "page": "1",
              "notification_id": str(world.notification.id),
              "invitation": world.invitation,
              "session_id": str(world.own_session or world.target_session)}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"no value for {{{name}}} of {path}: add one in fill()"
        return values[name]

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, path) + QUERIES.get(path, "")


async def form_for(browser: Browser, path: str, world: World) -> tuple[dict[str, str], Any]:
    """The form a principal sends, with their CSRF token, and any files."""
    seen = await page_version(world.a.reference)  # as A's page would carry it
    data = {name: value.format(reference=world.a.reference, email=world.a.email,
                               target=world.target.id, seen=seen)
            for name, value in FORMS.get(path, {}).items()}
    if path == "/applications/{reference}/verify":
        data["code"] = CODE_A if browser.name == "token_a" else CODE_B
    files = None
    if path == "/apply/{kind}":
        page = await browser.client.get("/apply/unlock")
        data = {**hidden_fields(page.text), **UNLOCK}
        files = {"receipt": ("receipt.jpg", jpeg_bytes(), "image/jpeg")}
    return {"csrf_token": await browser.csrf(), **data}, files


async def snapshot(application: Application) -> tuple[Any, ...]:
    """What a principal who may not act on A must leave as it was."""
    fresh = await Application.get(id=application.id)
    return (
        fresh.status, fresh.assignee_id, fresh.decided_by_id,  # type: ignore[attr-defined]
        fresh.erasure_requested_at,
        await Event.filter(application_id=application.id, internal=False).count(),
        await Document.filter(application_id=application.id).count(),
        await Application.filter(appeal_of_id=application.id).count(),
    )


async def desk_snapshot() -> tuple[Any, ...]:
    return (
        await Reviewer.filter(active=True).count(),
        await Reviewer.all().count(),
        sorted(await CannedResponse.all().values_list("id", "title", "active")),
        sorted(await Notification.all().values_list("id", "status", "attempts")),
    )


def resolve(cell: Cell, method: str) -> tuple[int, str | None]:
    if cell == SIGN_IN:
        cell = LOGIN if method == "GET" else 401
    if isinstance(cell, tuple):
        return cell
    assert isinstance(cell, int)
    return cell, None


@dataclass
class Cast:
    world: World
    browser: Browser


async def cast(name: str, path: str, client: Any, desk_: Any, settings: Any) -> Cast:
    browser = await browser_for(name, client, desk_)
    holder = browser.reviewer if name in {"reviewer", "lead", "admin"} else (
        await desk_.reviewer("Holder")).reviewer
    assert holder is not None
    world = await make_world(settings, desk_, path, holder)
    if name in STAFF:
        # A second browser of their own, the session a reviewer may end from their account.
        assert browser.reviewer is not None
        await auth.start_session(browser.reviewer)
        world.own_session = (await ReviewerSession.filter(reviewer_id=browser.reviewer.id)
                             .order_by("-id").first()).id
    if name in {"token_a", "token_b"}:
        # The strongest way a token holder could present their token on the desk.
        own = world.token_a if name == "token_a" else world.token_b
        browser.client.cookies.set("support_session", own)
    return Cast(world, browser)


CASES = [
    pytest.param(method, path, name, id=f"{method} {path} {name}")
    for (method, path) in EXPECTED
    for name in PRINCIPALS
]


@pytest.mark.parametrize("method, path, name", CASES)
async def test_cell(client, desk, settings, method, path, name):
    setup = await cast(name, path, client, desk, settings)
    world, browser = setup.world, setup.browser
    url = fill(path, world, name)
    a_before, b_before, desk_before = (await snapshot(world.a), await snapshot(world.b),
                                       await desk_snapshot())
    if method == "GET":
        response = await browser.client.get(url)
    else:
        data, files = await form_for(browser, path, world)
        response = await browser.client.post(url, data=data, files=files)

    status, location = resolve(EXPECTED[(method, path)][name], method)
    assert response.status_code == status, response.text[:800]
    if location is not None:
        assert response.headers["location"].startswith(location), response.headers["location"]
    if path.startswith("/review") and status in REFUSED:
        assert "no-store" in response.headers.get("cache-control", "")
    if path.startswith("/review") and status == 401:
        assert "/review/login" in response.text  # a way back in, not a bare code
    if name not in MAY_CHANGE_A or status in REFUSED:
        assert await snapshot(world.a) == a_before, "A changed"
    if status in REFUSED and method == "POST" or name in HALF and path.startswith("/review"):
        # Half signed in, nothing on the desk changes (on the applicant's side they are
        # anybody).
        assert await desk_snapshot() == desk_before, "a refused request changed the desk"
    if name == "token_b" and "{token}" in path:
        # B's token reached B's application, never A's.
        assert world.a.reference not in response.text
        assert world.a.reference not in response.headers.get("location", "")
        if method == "POST" and status < 400:
            assert await snapshot(world.b) != b_before, "B's own action did not reach B"
    if status in REFUSED:
        assert jpeg_bytes() not in response.content
    if path.startswith("/review") and name in {*APPLICANTS, "other_queue", *HALF}:
        # Nothing on the desk tells them about A: no page, list, export or error names it.
        assert world.a.reference not in response.text


# CSRF: every POST route refuses a form without the token, or from another site, for a
# principal the route otherwise lets through.

ORDER = ("token_a", "admin", "lead", "reviewer", "anonymous", "token_b", "other_queue",
         *HALF)


def first_allowed(method: str, path: str) -> str:
    for name in ORDER:
        status, _ = resolve(EXPECTED[(method, path)][name], method)
        if status not in REFUSED:
            return name
    raise AssertionError(f"nobody may use {method} {path}: why is it a route?")


CSRF_CASES = [
    pytest.param(path, how, id=f"{path} {how}")
    for (method, path) in EXPECTED if method == "POST"
    # The API takes no cookie, only a bearer key: there is no session to ride.
    and not path.startswith("/api/")
    for how in ("missing", "cross-site")
]


@pytest.mark.parametrize("path, how", CSRF_CASES)
async def test_post_without_a_valid_csrf_token_is_refused(client, desk, settings, path, how):
    name = first_allowed("POST", path)
    setup = await cast(name, path, client, desk, settings)
    world, browser = setup.world, setup.browser
    data, files = await form_for(browser, path, world)
    headers = {}
    if how == "missing":
        del data["csrf_token"]
    else:
        headers = {"origin": "https://attacker.example", "sec-fetch-site": "cross-site"}
    before = (await snapshot(world.a), await snapshot(world.b), await desk_snapshot(),
              await Application.all().count(), await ReviewerSession.all().count())
    response = await browser.client.post(fill(path, world, name), data=data, files=files,
                                         headers=headers)
    assert response.status_code == 403, (name, response.text[:500])
    after = (await snapshot(world.a), await snapshot(world.b), await desk_snapshot(),
             await Application.all().count(), await ReviewerSession.all().count())
    assert after == before


def no_leak(response: httpx2.Response, *secrets_: bytes) -> None:
    for secret in secrets_:
        assert secret not in response.content, response.request.url


# Percent-encoded: a client (httpx, a browser) resolves a literal ".." before sending it.
TRAVERSALS = [
    "%2e%2e", "..%2f..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fdocuments",
    "....%2f%2f....%2f%2fcanary.txt", "..%5c..%5cdocuments", "%252e%252e", "%252e%252e%252f",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fcanary.txt", "~", "%7e%2f.ssh",
]


def _with_params(path: str, payload: str, world: World) -> list[str]:
    """The path with one parameter replaced by the payload at a time, the others A's."""
    names = re.findall(r"\{(\w+)(?::\w+)?\}", path)
    urls = []
    for name in names:
        url = re.sub(r"\{" + name + r"(?::\w+)?\}", payload, path)
        urls.append(fill(url, world, "admin").split("?")[0])
    return urls


def _unquoted(text: str) -> str:
    while unquote(text) != text:
        text = unquote(text)
    return text


PARAM_ROUTES = sorted((m, p) for (m, p) in EXPECTED if "{" in p)
# The form-page redirects: they only cut the last segment off the path, look nothing up.
PAGE_OF_FORM = {"/applications/{reference}/verify/resend", TOKEN + "/reply"}


@pytest.mark.parametrize("method, path", PARAM_ROUTES, ids=[f"{m} {p}" for m, p in PARAM_ROUTES])
async def test_path_traversal_in_any_path_parameter_goes_nowhere(
        client, desk, settings, method, path):
    admin = await desk.reviewer("Admin", role="admin")
    browser = Browser("admin", admin.client, admin.reviewer)
    world = await make_world(settings, desk, path, admin.reviewer)
    canary = b"canary-" + secrets.token_hex(8).encode()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "canary.txt").write_bytes(canary)
    content = (kept(settings, world.document.storage_key)
               .read_bytes())
    before = (await snapshot(world.a), await snapshot(world.b), await desk_snapshot())
    for payload in TRAVERSALS:
        for url in _with_params(path, payload, world):
            if method == "GET":
                response = await browser.client.get(url)
            else:
                data, files = await form_for(browser, path, world)
                response = await browser.client.post(url, data=data, files=files)
            if path in PAGE_OF_FORM and method == "GET" and response.status_code == 303:
                parent = httpx2.URL(BASE + url).path.rsplit("/", 1)[0]
                assert _unquoted(response.headers["location"]) == _unquoted(parent), url
            elif path.startswith("/api/"):  # no route, or no key: refused before any look-up
                assert response.status_code in (401, 404), (url, response.status_code)
            else:
                assert response.status_code == 404, (url, response.status_code)
            no_leak(response, content, canary, b"root:x:0:0")
    assert (await snapshot(world.a), await snapshot(world.b), await desk_snapshot()) == before
