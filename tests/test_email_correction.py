"""A corrected email, given once on the status page and confirmed by a code that goes only
to the new address; then the emails the old address never got are sent again to the new
one, with a working link (issue 21). Mail goes through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from support.data.models import (
    AccessToken,
    Application,
    Channel,
    DeliveryStatus,
    Event,
    Notification,
    Verification,
)
from support.platform import ratelimit
from support.platform.formatting import mask_email
from tests.conftest import BASE
from tests.test_delivery_status import messages_section, relay  # noqa: F401 - a fixture

NEW = "asha.kulkarni@example.org"
OFFER = "Wrong email address? Give the right one (you can do this once)"


def _text(message) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def _code_in(message) -> str:
    found = re.findall(r"(?<![\w-])(\d{6})(?![\w-])", _text(message))
    assert len(found) == 1, _text(message)
    return str(found[0])


async def _lost_email(applicant, outbox, relay) -> tuple[str, Application]:  # noqa: F811
    """A confirmed application whose "received" email the relay refused for good."""
    path = await applicant.apply_and_verify(outbox)
    application = await Application.get()
    relay.handler.refuse.add(application.email)
    await relay.deliver()
    assert await Notification.filter(template="received", channel="email",
                                     status=DeliveryStatus.DEAD).exists()
    return path, application


async def test_the_whole_correction(applicant, outbox, client, relay):  # noqa: F811
    path, application = await _lost_email(applicant, outbox, relay)
    old = application.email
    page = await client.get(path)
    assert OFFER in messages_section(page.text)

    form = await client.get(f"{path}/email")
    assert form.status_code == 200
    assert "Correct your email" in form.text and mask_email(old) in form.text
    assert f'action="{path}/email"' in form.text and 'name="email"' in form.text

    # Not an address: the form again, what was typed kept, and why.
    typo = await applicant.post_form(f"{path}/email", {"email": "asha.kulkarni example.org"})
    assert typo.status_code == 422
    assert 'value="asha.kulkarni example.org"' in typo.text
    assert "An email address needs an @ sign" in typo.text or "spaces" in typo.text
    same = await applicant.post_form(f"{path}/email", {"email": old.upper()})
    assert same.status_code == 422 and "This is the email we already have" in same.text
    assert not await Verification.exists()

    started = await applicant.post_form(f"{path}/email", {"email": f"  {NEW} "})
    assert started.status_code == 303 and started.headers["location"] == f"{path}/email"
    [row] = await Notification.filter(template="email_code")
    assert (row.channel, row.recipient, row.urgent) == (Channel.EMAIL, NEW, True)
    assert await Event.filter(type="email_correction_started").exists()
    await relay.deliver()
    assert relay.to(old) == []  # the code never goes to the old address, nor by SMS
    assert not [m for m in outbox.sms() if "new email" in m["text"].lower()]
    [message] = relay.to(NEW)
    assert message["To"] == NEW and application.reference in message["Subject"]
    assert "confirm this email address" in _text(message)
    code = _code_in(message)

    waiting = await client.get(f"{path}/email")
    assert f'action="{path}/email/confirm"' in waiting.text
    assert f"We sent a 6-digit code to {mask_email(NEW)}" in waiting.text

    wrong = "0" * 6 if code != "0" * 6 else "1" * 6
    refused = await applicant.post_form(f"{path}/email/confirm", {"code": wrong})
    assert refused.status_code == 422
    assert "That code is not right. You have 4 tries left." in refused.text
    assert (await Verification.get()).attempts == 1
    assert (await Application.get()).email == old

    done = await applicant.post_form(f"{path}/email/confirm", {"code": code})
    assert done.status_code == 303 and done.headers["location"] == f"{path}?done=email"
    corrected = await Application.get()
    assert corrected.email == NEW and corrected.email_corrected_at is not None
    assert not await Verification.exists()
    assert await Event.filter(type="email_corrected").exists()

    # The lost email, written again to the new address with a fresh, working link.
    [again] = await Notification.filter(template="received", recipient=NEW)
    assert again.channel is Channel.EMAIL and again.context.get("resent") is True
    tokens_before = await AccessToken.all().count()
    await relay.deliver()
    [resent] = [m for m in relay.to(NEW) if "received" in m["Subject"]]
    [link] = re.findall(r"http://testserver(/status/[A-Za-z0-9_-]+)", _text(resent))
    assert link != path and tokens_before >= 2
    opened = await client.get(link)
    assert opened.status_code == 200 and application.reference in opened.text
    assert (await Notification.get(id=again.id)).status is DeliveryStatus.SENT

    page = await client.get(done.headers["location"])
    assert f"Your email is now {mask_email(NEW)}" in page.text
    section = messages_section(page.text)
    assert OFFER not in section and f'href="{path}/email"' not in section
    assert "(sent again to your corrected email)" in section
    assert f"sent to {mask_email(NEW)}" in section

    # Once only.
    shown = await client.get(f"{path}/email")
    assert "You have already corrected your email once" in shown.text
    assert 'name="email"' not in shown.text and 'name="code"' not in shown.text
    again_asked = await applicant.post_form(f"{path}/email", {"email": "other@example.net"})
    assert again_asked.status_code == 409
    assert "You have already corrected your email once" in again_asked.text
    assert not await Notification.filter(recipient="other@example.net").exists()
    assert (await Application.get()).email == NEW


async def test_nothing_lost_sends_the_latest_email_again(applicant, outbox, client):
    path = await applicant.apply_and_verify(outbox)
    await outbox.deliver()  # everything sent: the links in the outbox are wiped
    assert (await Notification.get(template="received", channel="email")).context[
        "status_url"] == "[sent]"
    await applicant.post_form(f"{path}/email", {"email": NEW})
    await outbox.deliver()
    [code_mail] = [m for m in outbox.emails() if m["To"] == NEW]
    done = await applicant.post_form(f"{path}/email/confirm", {"code": _code_in(code_mail)})
    assert done.status_code == 303
    rows = await Notification.filter(recipient=NEW).exclude(template="email_code")
    assert [row.template for row in rows] == ["received"]  # never the confirmation code
    assert rows[0].context["status_url"].startswith(f"{BASE}/status/")
    await outbox.deliver()
    [resent] = [m for m in outbox.emails() if m["To"] == NEW and "received" in m["Subject"]]
    [link] = re.findall(r"http://testserver(/status/[A-Za-z0-9_-]+)", _text(resent))
    assert (await client.get(link)).status_code == 200


async def test_an_expired_code_then_a_new_one(applicant, outbox, client, settings):
    path = await applicant.apply_and_verify(outbox)
    await applicant.post_form(f"{path}/email", {"email": NEW})
    await outbox.deliver()
    first = _code_in([m for m in outbox.emails() if m["To"] == NEW][-1])
    await Verification.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    expired = await applicant.post_form(f"{path}/email/confirm", {"code": first})
    assert expired.status_code == 422 and "This code has expired" in expired.text
    assert (await Application.get()).email != NEW

    too_soon = await applicant.post_form(f"{path}/email/resend", {})
    assert too_soon.status_code == 429 and "Please wait" in too_soon.text
    await Verification.all().update(
        last_sent_at=datetime.now(UTC) - timedelta(seconds=settings.code_resend_after_seconds))
    resent = await applicant.post_form(f"{path}/email/resend", {})
    assert resent.status_code == 200 and "We have sent you a new code." in resent.text
    await outbox.deliver()
    mails = [m for m in outbox.emails() if m["To"] == NEW]
    assert len(mails) == 2
    second = _code_in(mails[-1])
    done = await applicant.post_form(f"{path}/email/confirm", {"code": second})
    assert done.status_code == 303
    assert (await Application.get()).email == NEW


async def test_too_many_wrong_codes(applicant, outbox, settings):
    path = await applicant.apply_and_verify(outbox)
    await applicant.post_form(f"{path}/email", {"email": NEW})
    await outbox.deliver()
    code = _code_in([m for m in outbox.emails() if m["To"] == NEW][-1])
    wrong = "0" * 6 if code != "0" * 6 else "1" * 6
    for _ in range(settings.code_attempts):
        assert (await applicant.post_form(f"{path}/email/confirm",
                                          {"code": wrong})).status_code == 422
    last = await applicant.post_form(f"{path}/email/confirm", {"code": code})
    assert last.status_code == 422 and "Too many wrong codes" in last.text
    assert (await Application.get()).email != NEW


async def test_code_guesses_are_limited_per_address(app, applicant, outbox):
    # The allowance of the first code's guesses, shared: confirming the application took one.
    app.state.limiter.rules[ratelimit.Rule.VERIFY_IP] = ratelimit.parse("3/hour")
    path = await applicant.apply_and_verify(outbox)
    await applicant.post_form(f"{path}/email", {"email": NEW})
    answers = [await applicant.post_form(f"{path}/email/confirm", {"code": "999999"})
               for _ in range(3)]
    assert [a.status_code for a in answers[:2]] == [422, 422]
    assert answers[2].status_code == 429 and "retry-after" in answers[2].headers
    assert (await Verification.get()).attempts == 2  # the refused one was never checked


async def test_without_the_csrf_token_nothing_happens(applicant, outbox, client):
    path = await applicant.apply_and_verify(outbox)
    forged = await client.post(f"{path}/email", data={"email": NEW})
    assert forged.status_code == 403
    assert not await Verification.exists()
    assert not await Notification.filter(recipient=NEW).exists()
    for action in ("confirm", "resend"):
        assert (await client.post(f"{path}/email/{action}", data={"code": "123456"})
                ).status_code == 403


async def test_an_unknown_link_is_a_404(applicant, client):
    unknown = "/status/" + "A" * 43
    assert (await client.get(f"{unknown}/email")).status_code == 404
    for suffix, data in (("", {"email": NEW}), ("/confirm", {"code": "123456"}),
                         ("/resend", {})):
        response = await applicant.post_form(f"{unknown}/email{suffix}", data)
        assert response.status_code == 404 and "This link does not work" in response.text
    assert not await Notification.filter(recipient=NEW).exists()


async def test_no_correction_once_erasure_is_asked_or_done(applicant, outbox, client):
    path = await applicant.apply_and_verify(outbox)
    assert (await applicant.post_form(f"{path}/erase", {})).status_code == 303
    asked = await Application.get()
    assert asked.erasure_requested_at is not None and asked.redacted_at is None
    assert "You asked us to erase your personal data" in (await client.get(f"{path}/email")).text
    refused = await applicant.post_form(f"{path}/email", {"email": NEW})
    assert refused.status_code == 409 and "can no longer be changed" in refused.text
    assert OFFER not in messages_section((await client.get(path)).text)

    await applicant.post_form(f"{path}/withdraw", {})
    await applicant.post_form(f"{path}/erase", {})
    assert (await Application.get()).redacted_at is not None
    shown = await client.get(f"{path}/email")
    assert shown.status_code == 200 and "Your personal data was erased" in shown.text
    assert 'name="email"' not in shown.text and "redacted-" not in shown.text
    refused = await applicant.post_form(f"{path}/email", {"email": NEW})
    assert refused.status_code == 409
    assert not await Verification.exists()
    assert not await Notification.filter(recipient=NEW).exists()
