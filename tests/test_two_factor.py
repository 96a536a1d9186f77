"""The second factor (issue 19): TOTP codes from an app, recovery codes, two-step sign-in, and
setting it up, which leads and admins (everyone, with SUPPORT_REQUIRE_2FA=1) cannot skip."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx2
import pyotp
import pytest

from support.accounts import auth, second_factor
from support.app import create_app
from support.config import Settings
from support.data.models import AccountEvent, Application, RecoveryCode, Reviewer, ReviewerSession
from support.platform import tokens
from support.web import account
from support.web.security import CSP
from tests.conftest import BASE, enrol, fresh_code, hidden_fields
from tests.factories import make_application
from tests.test_auth import PASSWORD, csrf, login, make_reviewer, session_token

NOW = datetime(2026, 12, 6, 10, 0, 10, tzinfo=UTC)  # 10 s into a 30-second step


def _code(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


async def _enrolled(role: str = "lead", email: str = "ann@example.com") -> tuple[Reviewer, str]:
    reviewer = await make_reviewer(email, role=role, enrolled=False)
    return reviewer, await enrol(reviewer)


async def _post(client: httpx2.AsyncClient, path: str, **data: str) -> httpx2.Response:
    return await client.post(path, data={"csrf_token": await csrf(client), **data})


# --- codes -------------------------------------------------------------------------------


async def test_a_code_is_accepted_one_step_either_side_of_now_and_no_further(app):
    reviewer, secret = await _enrolled()
    step = pyotp.TOTP(secret).timecode(NOW)
    for offset in (-2, -1, 0, 1, 2):
        expected = step + offset if abs(offset) <= second_factor.WINDOW else None
        assert second_factor.matching_step(secret, _code(secret, step + offset), NOW) == expected
    assert second_factor.matching_step(secret, "12345", NOW) is None  # not six digits
    assert second_factor.matching_step(secret, "١٢٣٤٥٦", NOW) is None  # other digits
    assert await second_factor.check_code(reviewer, _code(secret, step - 1), NOW)
    assert not await second_factor.check_code(reviewer, _code(secret, step - 2), NOW)


async def test_a_code_works_once_and_never_an_older_one_after_it(app):
    reviewer, secret = await _enrolled()
    step = pyotp.TOTP(secret).timecode(NOW)
    assert await second_factor.check_code(reviewer, _code(secret, step), NOW)
    assert not await second_factor.check_code(reviewer, _code(secret, step), NOW)  # replayed
    assert not await second_factor.check_code(reviewer, _code(secret, step - 1), NOW)
    assert (await Reviewer.get(id=reviewer.id)).totp_last_step == step
    assert await second_factor.check_code(reviewer, _code(secret, step + 1), NOW)


async def test_two_requests_racing_with_one_code_let_one_in(app):
    reviewer, secret = await _enrolled()
    code = _code(secret, pyotp.TOTP(secret).timecode(NOW))
    copies = [await Reviewer.get(id=reviewer.id) for _ in range(2)]
    results = await asyncio.gather(*(second_factor.check_code(r, code, NOW) for r in copies))
    assert sorted(results) == [False, True]


async def test_recovery_codes_are_ten_single_use_and_stored_only_hashed(app):
    reviewer = await make_reviewer(role="lead", enrolled=False)
    secret = await second_factor.start_enrolment(reviewer)
    codes = await second_factor.confirm_enrolment(
        reviewer, _code(secret, pyotp.TOTP(secret).timecode(NOW)), NOW)
    assert codes is not None and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", code) for code in codes)
    rows = await RecoveryCode.filter(reviewer=reviewer)
    assert len(rows) == 10
    assert {row.code_hash for row in rows} == {
        tokens.token_hash(code.replace("-", "")) for code in codes}
    assert not any(code.replace("-", "") in row.code_hash for code in codes for row in rows)

    typed = codes[3].upper().replace("-", " ")  # as read from paper
    assert await second_factor.use_recovery_code(reviewer, typed) == 9
    assert await second_factor.use_recovery_code(reviewer, codes[3]) is None  # spent
    other, _ = await _enrolled(email="bob@example.com")
    assert await second_factor.use_recovery_code(other, codes[4]) is None  # not theirs
    assert await second_factor.use_recovery_code(reviewer, "") is None
    assert await second_factor.recovery_codes_left(reviewer) == 9


# --- signing in with two steps ------------------------------------------------------------


async def test_sign_in_takes_the_password_then_a_code(client):
    reviewer, _ = await _enrolled()
    first = await login(client, next="/review/reports")
    assert first.status_code == 303
    assert first.headers["location"] == "/review/login/code?next=%2Freview%2Freports"
    pending = session_token(first)
    assert await auth.session_reviewer(pending) is None  # half signed in is nobody
    assert (await ReviewerSession.get()).pending
    assert (await Reviewer.get(id=reviewer.id)).last_login_at is None

    page = await client.get(first.headers["location"])
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    field = re.search(r'<input type="text" id="code"[^>]*>', page.text, re.S).group(0)
    assert 'autocomplete="one-time-code"' in field and 'inputmode="numeric"' in field
    assert 'name="recovery_code"' in page.text
    assert hidden_fields(page.text)["next"] == "/review/reports"
    assert "style=" not in page.text and "<script" not in page.text
    assert 'href="/review/queue">Queue' not in page.text  # nothing of the desk is offered

    wrong = await _post(client, "/review/login/code", code="12345")
    assert wrong.status_code == 422 and "wrong or was used already" in wrong.text
    right = await _post(client, "/review/login/code", code=await fresh_code(reviewer),
                        next="/review/reports")
    assert right.status_code == 303 and right.headers["location"] == "/review/reports"
    full = session_token(right)
    assert full != pending  # a new session id once both steps are done
    assert await auth.session_of(pending) is None
    assert (await auth.session_reviewer(full)).id == reviewer.id
    after = await Reviewer.get(id=reviewer.id)
    assert after.last_login_at is not None and after.failed_logins == 0
    assert (await client.get("/review/reports")).status_code == 200


async def test_half_signed_in_grants_nothing_but_the_code_page(client):
    """Every desk route, read from the app, sends a half-signed-in browser to the code page
    (tests/test_authz_matrix.py checks each route for both half-signed-in principals)."""
    await _enrolled()
    application = await make_application()
    await login(client)
    for path in ("/review", "/review/queue", f"/review/applications/{application.reference}",
                 "/review/account", "/review/admin/reviewers", "/review/queue.csv"):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/review/login/code"), path
    taken = await _post(client, "/review/next")
    assert taken.status_code == 303 and taken.headers["location"] == "/review/login/code"
    assert (await Application.get(id=application.id)).assignee_id is None
    # Setting up another second factor is not a way round the code either.
    assert (await client.get("/review/account/two-factor")).headers["location"].startswith(
        "/review/login/code")


async def test_a_half_signed_in_session_ends_after_fifteen_minutes(app):
    reviewer, _ = await _enrolled()
    token = await auth.start_session(reviewer, NOW, pending=True)
    assert (await auth.session_of(token, NOW + timedelta(minutes=14))) is not None
    assert (await auth.session_of(token, NOW + timedelta(minutes=15, seconds=1))) is None


async def test_a_code_signs_in_once_even_from_another_browser(app, client):
    reviewer, _ = await _enrolled()
    await login(client)
    code = await fresh_code(reviewer)
    assert (await _post(client, "/review/login/code", code=code)).status_code == 303
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                  base_url=BASE) as other:
        await login(other)
        replayed = await _post(other, "/review/login/code", code=code)
        assert replayed.status_code == 422


async def test_wrong_codes_count_toward_the_lock_out_and_the_password_resets_nothing(client):
    reviewer, _ = await _enrolled()
    wrong = "12345"  # never a code
    await login(client)
    for _ in range(3):
        assert (await _post(client, "/review/login/code", code=wrong)).status_code == 422
    # The right password again does not buy fresh guesses at the code.
    assert (await login(client)).status_code == 303
    assert (await Reviewer.get(id=reviewer.id)).failed_logins == 3
    assert (await _post(client, "/review/login/code", code=wrong)).status_code == 422
    locked = await _post(client, "/review/login/code", code=wrong)
    assert locked.status_code == 422 and "locked for 15 minutes" in locked.text
    assert await ReviewerSession.filter(reviewer=reviewer).count() == 0  # the step has ended
    assert (await AccountEvent.get(reviewer=reviewer)).type == "locked_by_codes"
    # Locked: even the right code is not looked at, and the password says so.
    assert (await login(client)).status_code == 422
    assert "locked for" in (await login(client)).text


async def test_wrong_codes_count_toward_the_address_limit(app, settings):
    await _enrolled()
    strict = create_app(settings.with_(limit_login_ip="2/15 minutes"))
    async with strict.router.lifespan_context(strict):
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=strict),
                                      base_url=BASE) as client:
            await login(client)
            for _ in range(2):
                assert (await _post(client, "/review/login/code", code="12345")).status_code == 422
            refused = await _post(client, "/review/login/code", code="12345")
            assert refused.status_code == 429
            assert "Your code was not checked" in refused.text
            assert int(refused.headers["retry-after"]) > 0


async def test_a_recovery_code_signs_in_once(client):
    reviewer = await make_reviewer(role="lead", enrolled=False)
    secret = await second_factor.start_enrolment(reviewer)
    codes = await second_factor.confirm_enrolment(reviewer, pyotp.TOTP(secret).now())
    assert codes is not None
    await login(client)
    used = await _post(client, "/review/login/code", recovery_code=codes[0])
    assert used.status_code == 303
    assert used.headers["location"] == "/review/account?notice=recovery-code-used"
    account = await client.get(used.headers["location"])
    assert 'id="codes-left">9<' in account.text
    assert "cannot be used again" in account.text
    await _post(client, "/review/logout")
    await login(client)
    again = await _post(client, "/review/login/code", recovery_code=codes[0])
    assert again.status_code == 422 and "not one of your unused recovery codes" in again.text
    assert "<details class=\"recovery\" open>" in again.text
    assert (await AccountEvent.filter(reviewer=reviewer, type="recovery_code_used").count()) == 1


# --- setting it up ---------------------------------------------------------------------------


async def test_leads_must_set_it_up_right_after_the_password_and_nothing_else_opens(client):
    lead = await make_reviewer(role="lead", enrolled=False)
    first = await login(client)
    assert first.status_code == 303
    assert first.headers["location"] == "/review/account/two-factor"
    assert (await ReviewerSession.get()).pending
    for path in ("/review/queue", "/review/account", "/review/reports"):
        sent = await client.get(path)
        assert sent.status_code == 303 and sent.headers["location"].startswith(
            "/review/account/two-factor"), path
    assert (await _post(client, "/review/next")).headers["location"] == \
        "/review/account/two-factor"
    assert (await client.get("/review/login/code")).headers["location"] == \
        "/review/account/two-factor"

    page = await client.get("/review/account/two-factor")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert page.headers["content-security-policy"] == CSP  # nothing loosened for the QR code
    svg = re.search(r'<svg role="img"[^>]*class="qr"[^>]*><title>[^<]+</title>', page.text)
    assert svg, "the QR code is inline SVG with a name"
    assert "data:" not in page.text and "style=" not in page.text and "<script" not in page.text
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]{32})<', page.text).group(1)
    assert (await Reviewer.get(id=lead.id)).totp_pending_secret == secret
    assert (await Reviewer.get(id=lead.id)).totp_secret is None
    field = re.search(r'<input type="text" id="code"[^>]*>', page.text, re.S).group(0)
    assert 'autocomplete="one-time-code"' in field and 'inputmode="numeric"' in field
    assert 'href="/review/queue">Queue' not in page.text and "Not now" not in page.text
    assert "Sign out" in page.text
    again = await client.get("/review/account/two-factor")  # a reload: the same secret
    assert secret in again.text

    wrong = await _post(client, "/review/account/two-factor", code="12345")
    assert wrong.status_code == 422 and secret in wrong.text
    done = await _post(client, "/review/account/two-factor",
                       code=pyotp.TOTP(secret).now())
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-9-]{19})</code></li>", done.text)
    assert len(codes) == 10
    assert done.headers["cache-control"] == "no-store"
    assert await auth.session_reviewer(session_token(done)) is not None  # fully signed in now
    lead = await Reviewer.get(id=lead.id)
    assert lead.totp_secret == secret and lead.totp_pending_secret is None
    assert (await client.get("/review/queue")).status_code == 200
    assert (await AccountEvent.get(reviewer=lead)).type == "second_factor_on"


async def test_a_lead_signed_in_without_a_second_factor_is_sent_to_set_it_up(desk):
    """A session that began before the rule (or a role raised since) gets no further."""
    lead = await desk.reviewer("Lee", role="lead", enrolled=False)
    response = await lead.get("/review/queue")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/review/account/two-factor")
    plain = await desk.reviewer("Pat", enrolled=False)
    assert (await plain.get("/review/queue")).status_code == 200  # not required of them
    offered = await plain.get("/review/account/two-factor")
    assert offered.status_code == 200 and "Not now" in offered.text


async def test_everyone_must_have_it_when_the_setting_says_so(app, settings):
    assert Settings.from_env({"SUPPORT_REQUIRE_2FA": "1", "SUPPORT_SECRET_KEY": "k" * 40,
                              "SUPPORT_DATA_DIR": str(settings.data_dir)}).require_2fa
    assert not settings.require_2fa
    strict = create_app(settings.with_(require_2fa=True))
    async with strict.router.lifespan_context(strict):
        await auth.create_reviewer("pat@example.com", "Pat", "reviewer", PASSWORD)
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=strict),
                                      base_url=BASE) as client:
            first = await login(client, "pat@example.com")
            assert first.headers["location"] == "/review/account/two-factor"
            assert (await client.get("/review/queue")).headers["location"].startswith(
                "/review/account/two-factor")


async def test_new_recovery_codes_need_a_code_from_the_app(desk):
    lead = await desk.reviewer("Lee", role="lead")
    old = await second_factor.renew_recovery_codes(lead.reviewer)
    refused = await lead.post("/review/account/recovery-codes", {"code": "12345"})
    assert refused.status_code == 422
    renewed = await lead.post("/review/account/recovery-codes", {"code": await lead.code()})
    assert renewed.status_code == 200
    assert len(re.findall(r"<li><code>", renewed.text)) == 10
    assert await second_factor.use_recovery_code(lead.reviewer, old[0]) is None
    assert (await AccountEvent.filter(reviewer=lead.reviewer).values_list("type", flat=True)
            ).count("recovery_codes_renewed") == 2


def test_the_qr_code_carries_the_secret_the_issuer_and_the_account():
    reviewer = Reviewer(email="ann@example.com")
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    uri = second_factor.provisioning_uri(reviewer, secret)
    assert uri == ("otpauth://totp/Support%20desk:ann%40example.com?"
                   f"secret={secret}&issuer=Support%20desk")
    svg = str(account.qr_svg(uri))
    assert svg.startswith('<svg role="img" ') and "<title>" in svg
    assert "style" not in svg and "script" not in svg


@pytest.mark.parametrize("role, needed", [("reviewer", False), ("lead", True), ("admin", True)])
def test_who_must_have_one(role, needed):
    assert second_factor.must_have(Reviewer(role=role), require_all=False) is needed
    assert second_factor.must_have(Reviewer(role=role), require_all=True)
