"""Reviewer sign-in: what a reviewer (or someone guessing) sees, and what the database keeps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from support.accounts import auth, roles
from support.app import create_app
from support.data.models import Reviewer, ReviewerSession
from support.platform import tokens
from support.web.auth import requires
from support.web.templating import render
from tests.conftest import BASE, enrol, fresh_code, hidden_fields

PASSWORD = "correct horse battery"


async def make_reviewer(email: str = "ann@example.com", role: str = "reviewer",
                        name: str = "Ann Reviewer", enrolled: bool | None = None) -> Reviewer:
    """With a second factor set up when the role needs one (``enrolled`` None), so that
    ``sign_in`` gets through both steps."""
    reviewer = await auth.create_reviewer(email, name, role, PASSWORD)
    if enrolled or (enrolled is None and role != "reviewer"):
        await enrol(reviewer)
    return reviewer


async def csrf(client: httpx2.AsyncClient) -> str:
    if "support_csrf" not in client.cookies:
        await client.get("/review/login")
    return client.cookies["support_csrf"]


async def login(client: httpx2.AsyncClient, email: str = "ann@example.com",
                password: str = PASSWORD, **extra: str) -> httpx2.Response:
    data = {"csrf_token": await csrf(client), "email": email, "password": password, **extra}
    return await client.post("/review/login", data=data)


async def sign_in(client: httpx2.AsyncClient, email: str = "ann@example.com",
                  password: str = PASSWORD, **extra: str) -> httpx2.Response:
    """Both steps: the password, then (for whoever has a second factor) a code."""
    first = await login(client, email, password, **extra)
    location = first.headers.get("location", "")
    if first.status_code != 303 or not location.startswith("/review/login/code"):
        return first
    reviewer = await Reviewer.get(email=email.strip().lower())
    data = {"csrf_token": await csrf(client), "code": await fresh_code(reviewer)}
    data.update({k: v[0] for k, v in parse_qs(urlsplit(location).query).items()})
    return await client.post("/review/login/code", data=data)


def session_cookie_header(response: httpx2.Response) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith("support_session=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


def session_token(response: httpx2.Response) -> str:
    return session_cookie_header(response).split(";")[0].split("=", 1)[1]


# --- signing in ----------------------------------------------------------------------------


async def test_login_page_is_labelled_and_never_cached(client):
    page = await client.get("/review/login")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert '<label for="email">Email</label>' in page.text
    assert '<label for="password">Password</label>' in page.text
    assert 'autocomplete="username"' in page.text
    assert 'autocomplete="current-password"' in page.text
    assert "csrf_token" in hidden_fields(page.text)
    assert "Sign out" not in page.text and "/review/queue\">Queue" not in page.text
    assert 'class="review"' in page.text
    assert "style=" not in page.text and "<script" not in page.text


async def test_login_sets_a_strict_session_cookie_and_goes_to_the_queue(client):
    reviewer = await make_reviewer()
    response = await login(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/review/queue"
    assert response.headers["cache-control"] == "no-store"
    cookie = session_cookie_header(response)
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/review" in attributes
    assert "secure" not in attributes  # the test site is plain http
    token = session_token(response)
    assert len(token) >= 43
    assert (await auth.session_reviewer(token)).id == reviewer.id
    await reviewer.refresh_from_db()
    assert reviewer.last_login_at is not None


async def test_session_cookie_is_secure_when_the_site_is_https(app, settings):
    await make_reviewer()
    https_app = create_app(settings.with_(base_url="https://testserver"))
    transport = httpx2.ASGITransport(app=https_app)
    async with httpx2.AsyncClient(transport=transport, base_url="https://testserver") as client:
        response = await login(client)
    assert response.status_code == 303
    attributes = [part.strip().lower() for part in session_cookie_header(response).split(";")]
    assert "secure" in attributes


async def test_every_login_gets_a_new_session_id_and_only_its_hash_is_stored(client):
    await make_reviewer()
    first = session_token(await login(client))
    second = session_token(await login(client))
    assert first != second
    # Signing in again from the same browser ends the session it had.
    assert await auth.session_reviewer(first) is None
    assert await auth.session_reviewer(second) is not None
    rows = await ReviewerSession.all()
    assert [row.token_hash for row in rows] == [tokens.token_hash(second)]
    assert all(second not in str(value) for value in rows[0].__dict__.values())


async def test_email_is_case_insensitive(client):
    await make_reviewer("Ann.Smith@Example.com")
    assert (await Reviewer.get()).email == "ann.smith@example.com"
    response = await login(client, email="  ANN.SMITH@example.COM ")
    assert response.status_code == 303


# --- refusals ------------------------------------------------------------------------------


async def test_wrong_password_and_unknown_email_look_the_same(client):
    await make_reviewer("ann@example.com")
    wrong = await login(client, "ann@example.com", "not the password at all")
    unknown = await login(client, "nobody@example.com", "not the password at all")
    assert wrong.status_code == unknown.status_code == 422
    assert "Wrong email or password." in wrong.text
    assert "support_session" not in wrong.headers.get("set-cookie", "")
    assert 'value="ann@example.com"' in wrong.text  # the email is kept
    assert "not the password at all" not in wrong.text  # the password never is
    assert 'aria-describedby="login-error"' in wrong.text
    assert wrong.text.replace("ann@example.com", "EMAIL") == unknown.text.replace(
        "nobody@example.com", "EMAIL")


async def test_empty_fields_are_explained(client):
    response = await login(client, "", "")
    assert response.status_code == 422
    assert "Enter your email and your password." in response.text


async def test_a_deactivated_reviewer_reads_the_usual_message(client):
    await make_reviewer()
    await auth.deactivate("ann@example.com")
    response = await login(client)
    assert response.status_code == 422
    assert "Wrong email or password." in response.text


def _from(app, address: str) -> httpx2.AsyncClient:
    """A browser at another address (each one its own allowance)."""
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app, client=(address, 4000)),
                              base_url=BASE)


async def test_wrong_passwords_spend_the_guessers_tries_never_the_owners(app):
    """Issue 19, finding 6: five wrong passwords used to lock the account for everyone,
    again and again. Now they cost only the address they came from."""
    await make_reviewer()
    async with _from(app, "203.0.113.7") as stranger:
        for _ in range(5):
            response = await login(stranger, password="wrong password here")
            assert response.status_code == 422
            assert "Wrong email or password." in response.text
        refused = await login(stranger)  # even the right one: not checked from here
        assert refused.status_code == 429 and "was not checked" in refused.text
        assert "support_session" not in refused.headers.get("set-cookie", "")
    reviewer = await Reviewer.get()
    assert reviewer.locked_until is None and reviewer.failed_logins == 0
    async with _from(app, "198.51.100.20") as owner:
        assert (await login(owner)).status_code == 303


async def test_strangers_at_many_addresses_cannot_lock_the_owner_out(app):
    await make_reviewer()
    for number in range(1, 8):
        async with _from(app, f"203.0.113.{number}") as stranger:
            for _ in range(5):
                assert (await login(stranger, password="wrong guess")).status_code == 422
    async with _from(app, "198.51.100.20") as owner:
        assert (await login(owner)).status_code == 303


async def test_the_wait_grows_with_a_days_failures(app, settings):
    """Past the day's allowance for the account from that address, the next try waits
    for the day, not for fifteen minutes."""
    await make_reviewer()
    strict = create_app(settings.with_(limit_login_account_ip="100/15 minutes",
                                       limit_login_account_ip_day="3/day"))
    async with strict.router.lifespan_context(strict), _from(strict, "203.0.113.9") as guesser:
        for _ in range(3):
            assert (await login(guesser, password="wrong guess")).status_code == 422
        refused = await login(guesser)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 3600


async def test_wrong_passwords_leave_the_accounts_own_count_alone(client):
    await make_reviewer()
    for _ in range(4):
        await login(client, password="wrong password here")
    assert (await Reviewer.get()).failed_logins == 0
    assert (await login(client)).status_code == 303


async def test_unknown_emails_are_limited_exactly_like_known_ones(app):
    """Nothing tells whether an address has an account: the same answers, the same
    allowance."""
    await make_reviewer()
    answers = {}
    for email, address in (("ann@example.com", "203.0.113.1"),
                           ("nobody@example.com", "203.0.113.2")):
        async with _from(app, address) as guesser:
            answers[email] = [(await login(guesser, email, "wrong guess")).status_code
                              for _ in range(6)]
    assert answers["ann@example.com"] == answers["nobody@example.com"] == [422] * 5 + [429]


async def test_login_requires_the_csrf_token(client):
    await make_reviewer()
    await csrf(client)
    missing = await client.post("/review/login",
                                data={"email": "ann@example.com", "password": PASSWORD})
    assert missing.status_code == 403
    forged = await client.post("/review/login", data={
        "csrf_token": "x" * 43, "email": "ann@example.com", "password": PASSWORD})
    assert forged.status_code == 403
    cross_site = await client.post(
        "/review/login",
        data={"csrf_token": client.cookies["support_csrf"], "email": "ann@example.com",
              "password": PASSWORD},
        headers={"origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert "support_session" not in client.cookies
    assert await ReviewerSession.all().count() == 0


# --- where to go after signing in -----------------------------------------------------------


async def test_next_brings_the_reviewer_back_to_the_page_they_wanted(client):
    await make_reviewer()
    page = await client.get("/review/login", params={"next": "/review/applications/UL-7KQ2?tab=docs"})
    assert hidden_fields(page.text)["next"] == "/review/applications/UL-7KQ2?tab=docs"
    response = await login(client, next="/review/applications/UL-7KQ2?tab=docs")
    assert response.status_code == 303
    assert response.headers["location"] == "/review/applications/UL-7KQ2?tab=docs"


@pytest.mark.parametrize("target", [
    "https://evil.example", "//evil.example", "/\\evil.example", "https://evil.example/review/x",
    "/status/abc", "/reviewer-lookalike", "javascript:alert(1)", "/review/../status",
])
async def test_next_outside_the_review_desk_is_ignored(client, target):
    await make_reviewer()
    page = await client.get("/review/login", params={"next": target})
    assert "next" not in hidden_fields(page.text)
    response = await login(client, next=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/review/queue"


async def test_a_signed_in_reviewer_skips_the_login_page(client):
    await make_reviewer()
    await login(client)
    page = await client.get("/review/login")
    assert page.status_code == 303
    assert page.headers["location"] == "/review/queue"


# --- ending sessions -----------------------------------------------------------------------


async def test_logout_ends_the_session(client):
    await make_reviewer()
    token = session_token(await login(client))
    response = await client.post("/review/logout", data={"csrf_token": await csrf(client)})
    assert response.status_code == 303
    assert response.headers["location"] == "/review/login"
    cleared = session_cookie_header(response).lower()
    assert "max-age=0" in cleared and "path=/review" in cleared
    assert await auth.session_reviewer(token) is None
    assert await ReviewerSession.all().count() == 0


async def test_logout_requires_the_csrf_token(client):
    await make_reviewer()
    token = session_token(await login(client))
    response = await client.post("/review/logout", data={"csrf_token": "x" * 43})
    assert response.status_code == 403
    assert await auth.session_reviewer(token) is not None


async def test_deactivating_a_reviewer_ends_their_sessions(app, client):
    await make_reviewer()
    await make_reviewer("bob@example.com", name="Bob")
    token = session_token(await login(client))
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE) as other:
        other_token = session_token(await login(other, "bob@example.com"))
    assert await auth.session_reviewer(token) is not None
    assert await auth.deactivate("ann@example.com") == 1
    assert await auth.session_reviewer(token) is None
    assert await auth.session_reviewer(other_token) is not None  # Bob is untouched
    assert (await Reviewer.get(email="ann@example.com")).active is False


async def test_set_password_lifts_the_lock_and_ends_sessions(client):
    await make_reviewer()
    token = session_token(await login(client))
    reviewer = await Reviewer.get()
    reviewer.locked_until = datetime.now(UTC) + timedelta(minutes=15)  # as wrong codes lock it
    await reviewer.save()
    await auth.set_password("ann@example.com", "a brand new passphrase")
    assert await auth.session_reviewer(token) is None
    assert (await login(client, password="a brand new passphrase")).status_code == 303


async def test_sessions_expire_after_twelve_hours_and_are_touched_once_a_minute(app):
    reviewer = await make_reviewer()
    start = datetime.now(UTC)
    token = await auth.start_session(reviewer, now=start)
    row = await ReviewerSession.get()
    assert row.expires_at == pytest.approx(start + timedelta(hours=12), abs=timedelta(seconds=1))

    assert await auth.session_reviewer(token, now=start + timedelta(seconds=30)) is not None
    assert (await ReviewerSession.get()).last_seen_at == pytest.approx(start, abs=timedelta(seconds=1))
    later = start + timedelta(minutes=2)
    assert await auth.session_reviewer(token, now=later) is not None
    assert (await ReviewerSession.get()).last_seen_at == pytest.approx(later, abs=timedelta(seconds=1))

    assert await auth.session_reviewer(token, now=start + timedelta(hours=12, seconds=1)) is None
    assert await ReviewerSession.all().count() == 0
    assert await auth.session_reviewer("") is None
    assert await auth.session_reviewer("made-up-token") is None


# --- accounts ------------------------------------------------------------------------------


async def test_create_reviewer_checks_its_input(app):
    with pytest.raises(auth.AuthError, match="at least 12"):
        await auth.create_reviewer("ann@example.com", "Ann", "reviewer", "short")
    with pytest.raises(auth.AuthError, match="Unknown role"):
        await auth.create_reviewer("ann@example.com", "Ann", "boss", PASSWORD)
    with pytest.raises(auth.AuthError, match="not a valid email"):
        await auth.create_reviewer("ann at example", "Ann", "reviewer", PASSWORD)
    with pytest.raises(auth.AuthError, match="Unknown queue"):
        await auth.create_reviewer("ann@example.com", "Ann", "reviewer", PASSWORD, kinds=["x"])
    with pytest.raises(auth.AuthError, match="Unknown country"):
        await auth.create_reviewer("ann@example.com", "Ann", "reviewer", PASSWORD,
                                   countries=["QQ"])
    ann = await auth.create_reviewer("ann@example.com", "Ann", "lead", PASSWORD,
                                     countries=["in", "RU"])
    assert ann.kinds == ["unlock", "recovery", "appeal"]
    assert ann.countries == ["IN", "RU"]
    assert PASSWORD not in ann.password_hash and ann.password_hash.startswith("$argon2id$")
    with pytest.raises(auth.AuthError, match="already exists"):
        await auth.create_reviewer("ANN@example.com", "Ann again", "reviewer", PASSWORD)


def test_roles_include_the_ones_below():
    def who(role: str) -> Reviewer:
        return Reviewer(role=role)

    assert roles.has_role(who("admin"), "lead") and roles.has_role(who("admin"), "reviewer")
    assert roles.has_role(who("lead"), "reviewer") and not roles.has_role(who("lead"), "admin")
    assert roles.has_role(who("reviewer"), "reviewer")
    assert not roles.has_role(who("reviewer"), "lead")
    assert not roles.has_role(who("intern"), "reviewer")
    with pytest.raises(ValueError):
        requires("boss")


# --- @requires on other pages --------------------------------------------------------------


async def _who(request: Request) -> Response:
    return PlainTextResponse(f"hello {request.state.reviewer.name}")


async def _page(request: Request) -> Response:
    # Plain `render`, as other reviewer pages may use: the layout finds the reviewer itself.
    return render(request, "review/forbidden.html", {"signed_out": False, "needed_role": "x"})


@pytest.fixture
async def guarded(app, client):
    """Two dummy reviewer pages behind @requires, on the real app and its middleware."""
    app.router.routes[0:0] = [
        Route("/review/test/lead", requires("lead")(_who), methods=["GET", "POST"]),
        Route("/review/test/admin", requires("admin")(_who), methods=["GET", "POST"]),
        Route("/review/test/any", requires()(_who), methods=["GET"]),
        Route("/review/test/page", requires()(_page), methods=["GET"]),
    ]
    return client


async def test_requires_sends_an_anonymous_get_to_login_and_back(guarded):
    await make_reviewer(role="lead")
    response = await guarded.get("/review/test/lead?tab=2")
    assert response.status_code == 303
    assert response.headers["location"] == "/review/login?next=%2Freview%2Ftest%2Flead%3Ftab%3D2"
    assert response.headers["cache-control"] == "no-store"
    page = await guarded.get(response.headers["location"])
    back = await sign_in(guarded, **{"next": hidden_fields(page.text)["next"]})
    assert back.headers["location"] == "/review/test/lead?tab=2"
    arrived = await guarded.get(back.headers["location"])
    assert arrived.status_code == 200
    assert arrived.text == "hello Ann Reviewer"
    assert arrived.headers["cache-control"] == "no-store"


async def test_requires_answers_an_anonymous_post_with_a_readable_401(guarded):
    response = await guarded.post("/review/test/lead", data={"csrf_token": await csrf(guarded)})
    assert response.status_code == 401
    assert "Please sign in again" in response.text
    assert 'href="/review/login"' in response.text
    assert response.headers["cache-control"] == "no-store"


async def test_requires_refuses_a_role_too_low_with_a_readable_403(guarded):
    await make_reviewer(role="reviewer")
    await login(guarded)
    assert (await guarded.get("/review/test/any")).status_code == 200
    response = await guarded.get("/review/test/lead")
    assert response.status_code == 403
    assert "It needs the <strong>lead reviewer</strong> role" in response.text
    assert "Ann Reviewer" in response.text and "Sign out" in response.text
    assert "/review/admin/reviewers" not in response.text  # no Admin link for a reviewer
    assert response.headers["cache-control"] == "no-store"


async def test_lead_and_admin_pages(guarded):
    await make_reviewer(role="lead")
    await make_reviewer("root@example.com", role="admin", name="Root")
    await sign_in(guarded)
    assert (await guarded.get("/review/test/lead")).status_code == 200
    refused = await guarded.get("/review/test/admin")
    assert refused.status_code == 403
    await sign_in(guarded, "root@example.com")
    assert (await guarded.get("/review/test/admin")).text == "hello Root"
    assert (await guarded.get("/review/test/lead")).status_code == 200


async def test_the_layout_names_the_reviewer_and_shows_admin_only_to_admins(guarded):
    await make_reviewer("root@example.com", role="admin", name="Root")
    await make_reviewer(role="lead")
    await sign_in(guarded)
    lead_page = await guarded.get("/review/test/page")
    assert lead_page.status_code == 200
    assert "Signed in as <strong>Ann Reviewer</strong>" in lead_page.text
    assert 'href="/review/queue"' in lead_page.text
    assert "/review/admin/reviewers" not in lead_page.text
    logout_form = re.search(r'<form method="post" action="/review/logout".*?</form>',
                            lead_page.text, re.S)
    assert logout_form and hidden_fields(logout_form.group(0))["csrf_token"] == \
        guarded.cookies["support_csrf"]
    await sign_in(guarded, "root@example.com")
    admin_page = await guarded.get("/review/test/page")
    assert "Signed in as <strong>Root</strong>" in admin_page.text
    assert 'href="/review/admin/reviewers"' in admin_page.text


async def test_a_deactivated_reviewer_is_signed_out_of_protected_pages(guarded):
    await make_reviewer(role="lead")
    await sign_in(guarded)
    assert (await guarded.get("/review/test/lead")).status_code == 200
    await auth.deactivate("ann@example.com")
    response = await guarded.get("/review/test/lead")
    assert response.status_code == 303
    assert re.match(r"/review/login\?next=", response.headers["location"])
