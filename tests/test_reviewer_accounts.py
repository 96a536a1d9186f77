"""Reviewer accounts (issue 19): no password handed over (invitations and new links, single
use, 24 hours, only their hash kept), resets by admins and the command line, the sessions a
reviewer can see and end, and every change to an account in the audit."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from support.accounts import auth, invitations, second_factor
from support.data.models import (
    AccountEvent,
    Notification,
    RecoveryCode,
    Reviewer,
    ReviewerLink,
    ReviewerSession,
)
from support.platform import tokens
from tests.conftest import BASE, Outbox, fresh_code
from tests.test_auth import PASSWORD, csrf, login, make_reviewer, sign_in
from tests.test_cli_reviewers import cli  # noqa: F401 - the fixture

NEW_PASSWORD = "a brand new passphrase"


async def _link(outbox: Outbox, to: str) -> str:
    """The path of the link in the last email to ``to``."""
    await outbox.deliver()
    mails = [m for m in outbox.emails() if m["To"] == to]
    assert mails, f"no email to {to}"
    text = mails[-1].get_body(("plain",)).get_content()
    return re.search(r"http://testserver(/review/invitation/[\w-]+)", text).group(1)


async def _choose(client: httpx2.AsyncClient, link: str, password: str = NEW_PASSWORD,
                  again: str | None = None) -> httpx2.Response:
    await client.get(link)
    return await client.post(link, data={"csrf_token": await csrf(client), "password": password,
                                         "password_again": password if again is None else again})


# --- invitations ---------------------------------------------------------------------------


async def test_an_invited_lead_chooses_a_password_once_then_sets_up_codes(desk, client, outbox):
    admin = await desk.reviewer("Ada", role="admin")
    added = await admin.post("/review/admin/reviewers", {
        "email": "Lee@Example.com", "name": "Lee", "role": "lead", "kinds": ["unlock"]})
    assert added.status_code == 303
    lee = await Reviewer.get(email="lee@example.com")
    assert lee.password_hash == auth.NO_PASSWORD
    assert (await AccountEvent.get(reviewer=lee)).type == "invited"

    link = await _link(outbox, "lee@example.com")
    token = link.rsplit("/", 1)[1]
    row = await ReviewerLink.get(reviewer=lee)
    assert row.token_hash == tokens.token_hash(token)  # only its hash is kept
    assert row.expires_at - row.created_at == pytest.approx(timedelta(hours=24),
                                                            abs=timedelta(seconds=5))
    assert token not in str(await Notification.all().values())  # wiped from the outbox once sent
    mail = outbox.emails()[-1]
    assert mail["Subject"] == "You are invited to review on the support desk"
    assert "Ada added you to the support desk as a lead" in mail.get_body(("plain",)).get_content()

    page = await client.get(link)
    assert page.status_code == 200 and 'value="lee@example.com"' in page.text
    assert 'autocomplete="new-password"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"  # the token stays on this site
    differ = await _choose(client, link, again="something else entirely")
    assert differ.status_code == 422 and "The two passwords differ" in differ.text
    short = await _choose(client, link, "short")
    assert short.status_code == 422 and "at least 12" in short.text
    chosen = await _choose(client, link)
    assert chosen.status_code == 303
    # A lead must have a second factor: that comes next, and nothing else opens meanwhile.
    assert chosen.headers["location"] == "/review/account/two-factor"
    assert (await client.get("/review/queue")).headers["location"].startswith(
        "/review/account/two-factor")
    assert await auth.authenticate("lee@example.com", NEW_PASSWORD)

    used = await client.get(link)
    assert used.status_code == 404 and invitations.UNUSABLE in html.unescape(used.text)
    assert (await _choose(client, link, "another long password")).status_code == 404
    assert await auth.authenticate("lee@example.com", NEW_PASSWORD)  # unchanged


async def test_a_link_ends_24_hours_after_it_was_sent(app, client):
    bo = await auth.create_reviewer("bo@example.com", "Bo", "reviewer", None)
    token = await invitations.issue(bo, invitations.INVITATION, None)
    later = datetime.now(UTC) + timedelta(hours=24, seconds=1)
    assert await invitations.find(token) is not None
    assert await invitations.find(token, later) is None
    await ReviewerLink.filter(reviewer=bo).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert (await client.get(invitations.path(token))).status_code == 404
    assert (await _choose(client, invitations.path(token))).status_code == 404
    assert (await Reviewer.get(id=bo.id)).password_hash == auth.NO_PASSWORD


async def test_two_requests_with_one_link_set_one_password(app):
    bo = await auth.create_reviewer("bo@example.com", "Bo", "reviewer", None)
    token = await invitations.issue(bo, invitations.INVITATION, None)
    results = await asyncio.gather(invitations.use(token, "first long password"),
                                   invitations.use(token, "second long password"),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["AuthError", "Reviewer"]


async def test_an_invited_reviewer_cannot_sign_in_before_choosing_a_password(app, client):
    await auth.create_reviewer("bo@example.com", "Bo", "reviewer", None)
    for guess in ("!", "-", "", PASSWORD):
        response = await login(client, "bo@example.com", guess or "x")
        assert response.status_code == 422


async def test_a_new_link_ends_sessions_and_the_old_password_and_keeps_the_codes(
        desk, app, client, outbox):
    admin = await desk.reviewer("Ada", role="admin")
    lee = await make_reviewer("lee@example.com", role="lead", name="Lee")
    assert (await sign_in(client, "lee@example.com")).status_code == 303
    assert (await client.get("/review/queue")).status_code == 200
    first = await invitations.issue(lee, invitations.RESET, None)

    sent = await admin.post(f"/review/admin/reviewers/{lee.id}/link")
    assert sent.headers["location"] == "/review/admin/reviewers?notice=link-sent"
    assert (await client.get("/review/queue")).status_code == 303  # signed out at once
    assert (await login(client, "lee@example.com")).status_code == 422  # old password gone
    assert await invitations.find(first) is None  # the older link is replaced
    link = await _link(outbox, "lee@example.com")
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                  base_url=BASE) as browser:
        chosen = await _choose(browser, link)
        # The second factor stays: a mailbox alone does not open the account.
        assert chosen.headers["location"] == "/review/login/code"
        assert (await browser.get("/review/queue")).headers["location"].startswith(
            "/review/login/code")
        done = await browser.post("/review/login/code", data={
            "csrf_token": await csrf(browser), "code": await fresh_code(lee)})
        assert done.status_code == 303
    events = await AccountEvent.filter(reviewer=lee).order_by("id").values_list("type", "actor")
    assert events == [("link_sent", f"reviewer:{admin.reviewer.id}"),
                      ("password_set", f"reviewer:{lee.id}")]


# --- second factor resets -------------------------------------------------------------------


async def test_an_admin_resets_a_second_factor_and_the_audit_shows_it(desk, client):
    admin = await desk.reviewer("Ada Admin", role="admin")
    lee = await make_reviewer("lee@example.com", role="lead", name="Lee Lead")
    await second_factor.renew_recovery_codes(lee)
    await sign_in(client, "lee@example.com")
    reset = await admin.post(f"/review/admin/reviewers/{lee.id}/second-factor/reset")
    assert reset.headers["location"] == "/review/admin/reviewers?notice=second-factor-reset"
    lee = await Reviewer.get(id=lee.id)
    assert lee.totp_secret is None and lee.totp_enabled_at is None
    assert await RecoveryCode.filter(reviewer=lee).count() == 0
    assert await ReviewerSession.filter(reviewer=lee).count() == 0
    # Next sign-in: the password, then setting up a new one before anything else.
    assert (await login(client, "lee@example.com")).headers["location"] == \
        "/review/account/two-factor"

    audit = await admin.get("/review/admin/audit")
    accounts = audit.text.split('id="accounts-h"', 1)[1]
    row = re.search(r"<tr>(?:(?!</tr>).)*Second factor removed(?:(?!</tr>).)*</tr>",
                    accounts, re.S).group(0)
    assert "Lee Lead" in row and "Ada Admin" in row and "1 session ended." in row
    mine = await admin.get(f"/review/admin/audit?reviewer={lee.id}")
    assert "Second factor removed" in mine.text.split('id="accounts-h"', 1)[1]
    elsewhere = await admin.get(f"/review/admin/audit?reviewer={admin.reviewer.id + 1000}")
    assert "Second factor removed" not in elsewhere.text


async def test_the_command_line_resets_a_second_factor(cli, desk):  # noqa: F811
    lee = await desk.reviewer("Lee", role="lead")
    result = cli("reset-second-factor", lee.reviewer.email.upper())
    assert result.returncode == 0, result.stderr
    assert "1 session ended" in result.stdout and "their role needs them" in result.stdout
    assert (await Reviewer.get(id=lee.reviewer.id)).totp_secret is None
    assert (await lee.get("/review/queue")).status_code == 303
    event = await AccountEvent.get(reviewer_id=lee.reviewer.id)
    assert (event.type, event.actor) == ("second_factor_reset", "cli")
    unknown = cli("reset-second-factor", "nobody@example.com")
    assert unknown.returncode == 1 and "There is no reviewer" in unknown.stderr


async def test_admins_manage_others_not_themselves_from_the_admin_page(desk):
    admin = await desk.reviewer("Ada", role="admin")
    me = admin.reviewer.id
    for action in ("link", "second-factor/reset", "sessions/end"):
        refused = await admin.post(f"/review/admin/reviewers/{me}/{action}")
        assert refused.status_code == 409 and "yourself" in refused.text
        missing = await admin.post(f"/review/admin/reviewers/99999/{action}")
        assert missing.status_code == 404
    assert (await admin.get("/review/queue")).status_code == 200


# --- sessions --------------------------------------------------------------------------------

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Mobile Safari/537.36")


async def test_a_reviewer_sees_their_sessions_and_ends_one(app):
    await make_reviewer()
    other = await make_reviewer("bob@example.com", name="Bob")
    browsers = [httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE,
                                   headers={"user-agent": agent}) for agent in (FIREFOX, CHROME)]
    try:
        laptop, phone = browsers
        for browser in browsers:
            assert (await sign_in(browser)).status_code == 303
        bobs = await auth.start_session(other)
        page = await laptop.get("/review/account")
        assert page.status_code == 200
        body = page.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
        rows = re.findall(r"<tr>.*?</tr>", body, re.S)
        assert len(rows) == 2  # Ann's two, not Bob's
        assert "Chrome on Android" in rows[0] and "this browser" not in rows[0]  # newest first
        assert "Firefox on Windows" in rows[1] and "this browser" in rows[1]
        assert FIREFOX in rows[1]
        phone_id = int(re.search(r"/review/account/sessions/(\d+)/end", rows[0]).group(1))

        bob_id = (await ReviewerSession.get(reviewer=other)).id
        refused = await laptop.post(f"/review/account/sessions/{bob_id}/end",
                                    data={"csrf_token": await csrf(laptop)})
        assert refused.status_code == 404
        assert await auth.session_reviewer(bobs) is not None  # Bob's session goes on

        ended = await laptop.post(f"/review/account/sessions/{phone_id}/end",
                                  data={"csrf_token": await csrf(laptop)})
        assert ended.headers["location"] == "/review/account?notice=session-ended"
        assert (await phone.get("/review/queue")).status_code == 303  # the phone is signed out
        assert (await laptop.get("/review/queue")).status_code == 200

        own = int(re.search(r"/review/account/sessions/(\d+)/end",
                            (await laptop.get("/review/account")).text).group(1))
        out = await laptop.post(f"/review/account/sessions/{own}/end",
                                data={"csrf_token": await csrf(laptop)})
        assert out.headers["location"] == "/review/login"
        assert "max-age=0" in out.headers["set-cookie"].lower()
    finally:
        for browser in browsers:
            await browser.aclose()


async def test_the_user_agent_is_kept_cut_short(app):
    reviewer = await make_reviewer()
    await auth.start_session(reviewer, user_agent="Firefox/1 " + "x" * 1000 + "\x00\n")
    kept = (await ReviewerSession.get()).user_agent
    assert len(kept) == auth.USER_AGENT_CHARS and kept.startswith("Firefox/1 x")


@pytest.mark.parametrize("agent, label", [
    (FIREFOX, "Firefox on Windows"), (CHROME, "Chrome on Android"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.1 Safari/605.1.15", "Safari on macOS"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 "
     "Safari/537.36 Edg/131.0", "Edge on Linux"),
    ("curl/8.5.0", "Unknown browser"), ("", "Unknown browser"),
])
def test_a_browser_is_named_from_its_user_agent(agent, label):
    assert auth.browser_label(agent) == label


async def test_an_admin_ends_every_session_of_a_reviewer(desk, app):
    admin = await desk.reviewer("Ada", role="admin")
    bo = await desk.reviewer("Bo")
    await auth.start_session(bo.reviewer)
    page = await admin.get("/review/admin/reviewers")
    assert f'action="/review/admin/reviewers/{bo.reviewer.id}/sessions/end"' in page.text
    ended = await admin.post(f"/review/admin/reviewers/{bo.reviewer.id}/sessions/end")
    assert ended.headers["location"] == "/review/admin/reviewers?notice=sessions-ended"
    assert await ReviewerSession.filter(reviewer=bo.reviewer).count() == 0
    assert (await bo.get("/review/queue")).status_code == 303
    event = await AccountEvent.get(reviewer=bo.reviewer)
    assert (event.type, event.message) == ("sessions_ended", "2 sessions ended.")
    assert (await admin.get("/review/queue")).status_code == 200  # the admin's own go on


async def test_the_admin_page_shows_who_has_codes_and_who_still_needs_them(desk):
    admin = await desk.reviewer("Ada", role="admin")
    await desk.reviewer("Lee", role="lead", enrolled=False)
    await auth.create_reviewer("bo@example.com", "Bo", "reviewer", None)
    page = await admin.get("/review/admin/reviewers")
    assert "<strong>required</strong>, not set up yet" in page.text
    assert "waiting for them to choose a password" in page.text
    assert "on since" in page.text
