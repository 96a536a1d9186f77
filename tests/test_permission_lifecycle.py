"""The permission's life (issue 22, support/workflow/permissions.py): granted at approval,
redeemed once by one device (the same device again gets the same grant, another is
refused, twenty at once yield one grant), revoked by a lead with a reason the applicant
is sent in their language, and the account's quota the reviewer sees before approving."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support import workflow
from support.config import ConfigError, Settings
from support.data.models import Application, Event, Notification, Permission, Reviewer, Status
from support.notify.render import render_email, render_sms
from support.platform import grants
from support.rules import permissions as rules
from support.workflow import permissions, signing
from tests.factories import make_application

_numbers = itertools.count(1)
QUOTA = rules.Quota(1, 365)
DAY = timedelta(days=1)
DEVANAGARI = re.compile(r"[\u0900-\u097F]")
CYRILLIC = re.compile(r"[\u0400-\u04FF]")


def _now() -> datetime:
    return datetime.now(UTC)


async def _reviewer(role: str = "reviewer") -> Reviewer:
    n = next(_numbers)
    return await Reviewer.create(email=f"pl{n}@example.com", name=f"Lead {n}" if role != "reviewer"
                                 else f"Reviewer {n}", role=role, password_hash="-",
                                 kinds=["unlock", "recovery", "appeal"], countries=[])


async def _in_review(holder: Reviewer, **overrides: Any) -> Application:
    now = _now()
    return await make_application(status=Status.IN_REVIEW, assignee=holder, claimed_at=now,
                                  last_activity_at=now, **overrides)


async def _decide(application: Application, holder: Reviewer, action: str) -> Application:
    decision = workflow.Decision(
        action=action, text="Our answer to you.",
        reason_code="reason_insufficient" if action == "reject" else None)
    return await workflow.decide(application, workflow.reviewer_actor(holder), decision)


async def _approved(**overrides: Any) -> Application:
    holder = await _reviewer()
    return await _decide(await _in_review(holder, **overrides), holder, "approve")


@pytest.fixture
def emitted(monkeypatch) -> list[tuple[str, dict[str, Any]]]:
    """The events the workflow announces to the maker's endpoints."""
    seen: list[tuple[str, dict[str, Any]]] = []

    async def record(event: str, data: dict[str, Any], **_: Any) -> int:
        seen.append((event, data))
        return 0

    monkeypatch.setattr(permissions.webhooks, "emit", record)
    return seen


async def test_an_approval_grants_the_permission_and_announces_it(app, emitted):
    application = await _approved(account_id="6123456789", model="Redmi Note 10 Pro")
    permission = await Permission.get(application_id=application.id)
    assert (permission.account_id, permission.model) == ("6123456789", "Redmi Note 10 Pro")
    assert permission.expires_at == application.permission_expires_at
    assert permission.redeemed_at is None and permission.revoked_at is None
    assert [event for event, _ in emitted] == ["permission.granted", "application.decided"]
    granted = dict(emitted)["permission.granted"]
    assert granted["reference"] == application.reference
    assert granted["expires_at"] == permission.expires_at.isoformat()
    assert dict(emitted)["application.decided"]["status"] == "approved"


async def test_a_refusal_is_announced_and_grants_nothing(app, emitted):
    holder = await _reviewer()
    application = await _decide(await _in_review(holder), holder, "reject")
    assert not await Permission.filter(application_id=application.id).exists()
    assert emitted == [("application.decided", emitted[0][1])]
    assert emitted[0][1]["status"] == "rejected"
    assert emitted[0][1]["reason_code"] == "reason_insufficient"


async def test_redeem_once_the_same_device_again_gets_the_same_grant(app, emitted):
    application = await _approved()
    account, model = application.account_id, application.model
    first = await permissions.redeem(account, "  redmi NOTE 10   pro", "device-0001", QUOTA)
    assert first.fresh
    again = await permissions.redeem(account, model, "device-0001", QUOTA)
    assert (again.token, again.fresh) == (first.token, False)
    with pytest.raises(permissions.Refused) as refused:
        await permissions.redeem(account, model, "device-0002", QUOTA)
    assert refused.value.answer.code == rules.REDEEMED
    row = await Permission.get(application_id=application.id)
    assert (row.device_id, row.grant) == ("device-0001", first.token)  # nothing changed
    fresh = await Application.get(id=application.id)
    assert fresh.permission_used_at == row.redeemed_at
    assert await Event.filter(application_id=application.id,
                              type="permission_redeemed").count() == 1
    assert [event for event, _ in emitted].count("permission.redeemed") == 1
    claims = grants.verify(first.token, await signing.published())
    assert (claims["sub"], claims["model"], claims["device"]) == (account, model, "device-0001")
    assert claims["exp"] == int(first.expires_at.timestamp())


async def test_after_its_grant_ends_the_same_device_gets_a_fresh_one_until_the_permission_ends(
    app, emitted,
):
    application = await _approved()
    account, model = application.account_id, application.model
    first = await permissions.redeem(account, model, "device-0001", QUOTA)
    later = _now() + signing.GRANT_LIFETIME + timedelta(minutes=1)
    second = await permissions.redeem(account, model, "device-0001", QUOTA, now=later)
    assert second.fresh and second.token != first.token
    assert grants.verify(second.token, await signing.published(later))["device"] == "device-0001"
    assert (await Permission.get(application_id=application.id)).grant == second.token
    ended = application.permission_expires_at + DAY  # type: ignore[operator]
    with pytest.raises(permissions.Refused) as refused:
        await permissions.redeem(account, model, "device-0001", QUOTA, now=ended)
    assert refused.value.answer.code == rules.REDEEMED


async def test_twenty_devices_at_once_yield_exactly_one_grant(app, emitted):
    application = await _approved()

    async def attempt(n: int) -> str | None:
        try:
            grant = await permissions.redeem(application.account_id, application.model,
                                             f"device-{n:04d}", QUOTA)
        except permissions.Refused as refused:
            assert refused.answer.code == rules.REDEEMED
            return None
        return grant.token

    tokens = [token for token in await asyncio.gather(*(attempt(n) for n in range(20))) if token]
    assert len(tokens) == 1
    row = await Permission.get(application_id=application.id)
    assert row.grant == tokens[0]
    assert grants.verify(tokens[0], await signing.published())["device"] == row.device_id
    assert [event for event, _ in emitted].count("permission.redeemed") == 1


async def test_the_quota_holds_a_second_permission_until_the_first_unlock_is_a_year_old(
    app, emitted,
):
    first = await _approved(account_id="6100000001", model="Redmi Note 10 Pro")
    used = await permissions.redeem("6100000001", first.model, "device-0001", QUOTA)
    second = await _approved(account_id="6100000001", model="POCO F3")
    with pytest.raises(permissions.Refused) as refused:
        await permissions.redeem("6100000001", "POCO F3", "device-0002", QUOTA)
    redeemed_at = (await Permission.get(application_id=first.id)).redeemed_at
    assert refused.value.answer.code == rules.QUOTA_REACHED
    assert refused.value.answer.until == redeemed_at + timedelta(days=365)  # type: ignore[operator]
    assert (await Permission.get(application_id=second.id)).redeemed_at is None
    assert used.fresh
    # A quota of two lets it through.
    granted = await permissions.redeem("6100000001", "POCO F3", "device-0002",
                                       rules.Quota(2, 365))
    assert grants.verify(granted.token, await signing.published())["model"] == "POCO F3"


async def test_a_lead_revokes_with_a_reason_the_applicant_reads_in_their_language(
    app, settings, emitted,
):
    application = await _approved(locale="hi", account_id="6123456789",
                                  time_zone="Asia/Kolkata")
    lead = await _reviewer("lead")
    plain = await _reviewer()
    with pytest.raises(permissions.NotAllowed):
        await permissions.revoke(settings, application, workflow.reviewer_actor(plain),
                                 "The receipt turned out to be forged.")
    with pytest.raises(permissions.BadReason):
        await permissions.revoke(settings, application, workflow.reviewer_actor(lead), "  no ")
    before = await Notification.filter(application_id=application.id).count()
    reason = "The receipt turned out to be forged."
    await permissions.revoke(settings, application, workflow.reviewer_actor(lead), reason)
    row = await Permission.get(application_id=application.id)
    assert row.revoked_at is not None and row.revoked_reason == reason
    assert row.revoked_by == f"reviewer:{lead.id}"
    event = await Event.get(application_id=application.id, type="permission_revoked")
    assert not event.internal and event.message == reason
    assert ("permission.revoked", dict(emitted)["permission.revoked"]) in emitted
    rows = {str(n.channel.value): n for n in await Notification.filter(
        application_id=application.id, template="permission_revoked")}
    assert set(rows) == {"email", "sms"}
    assert await Notification.filter(application_id=application.id).count() == before + 2
    mail = render_email("permission_revoked", rows["email"].context, rows["email"].locale)
    assert rows["email"].locale == "hi" and DEVANAGARI.search(mail.subject)
    assert reason in mail.text and "6123456789" in mail.text
    assert "/status/" in mail.text and "IST" in mail.text  # their clock, their link
    sms = render_sms("permission_revoked", rows["sms"].context, rows["sms"].locale)
    assert DEVANAGARI.search(sms) and application.reference in sms
    english = render_sms("permission_revoked", rows["sms"].context, "en")
    assert "withdrawn" in english and "IST" in english
    with pytest.raises(workflow.DomainError, match="already revoked"):
        await permissions.revoke(settings, application, workflow.reviewer_actor(lead), reason)
    with pytest.raises(permissions.Refused) as refused:
        await permissions.redeem(application.account_id, application.model, "device-0001",
                                 QUOTA)
    assert refused.value.answer.code == rules.REVOKED


async def test_revoking_an_ended_unused_permission_is_refused(app, settings, emitted):
    application = await _approved()
    lead = await _reviewer("lead")
    later = application.permission_expires_at + DAY  # type: ignore[operator]
    with pytest.raises(workflow.DomainError, match="ended unused"):
        await permissions.revoke(settings, application, workflow.reviewer_actor(lead),
                                 "No longer needed, withdrawn.", now=later)
    assert (await Permission.get(application_id=application.id)).revoked_at is None


async def test_the_status_page_says_the_permission_was_used(app, settings, client, emitted):
    application = await _approved(locale="ru", country="RU", time_zone="Europe/Moscow")
    link = await workflow.new_status_link(settings, application)
    await permissions.redeem(application.account_id, application.model, "device-0001", QUOTA)
    page = await client.get(link.removeprefix(settings.base_url))
    assert page.status_code == 200
    assert CYRILLIC.search(page.text)
    fresh = await Application.get(id=application.id)
    assert fresh.permission_used_at is not None


# --- the desk ---------------------------------------------------------------------------


async def test_the_reviewer_sees_the_quota_before_approving(app, desk, emitted):
    earlier = await _approved(account_id="6100000002")
    await permissions.redeem("6100000002", earlier.model, "device-0001", QUOTA)
    redeemed = (await Permission.get(application_id=earlier.id)).redeemed_at
    me = await desk.reviewer()
    application = await _in_review(me.reviewer, account_id="6100000002", model="POCO F3")
    page = await me.get(f"/review/applications/{application.reference}")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert "Unlocks redeemed by this account in the last 365 days: 1 of 1" in text
    frees = redeemed + timedelta(days=365)  # type: ignore[operator]
    # Its permission would end (14 days) long before the quota frees: never usable.
    assert "before the account may redeem again on" in text and str(frees.year) in text
    assert "it could never be used" in text and 'id="quota-warning"' in text
    # Redeemed 360 days ago: the quota frees within the permission's 14 days.
    await Permission.filter(application_id=earlier.id).update(
        redeemed_at=_now() - timedelta(days=360))
    text = re.sub(r"\s+", " ", (await me.get(f"/review/applications/{application.reference}")).text)
    assert "1 of 1 — approving now would give a permission it cannot redeem until" in text
    fresh = await _in_review(me.reviewer, account_id="6100000003")
    page = await me.get(f"/review/applications/{fresh.reference}")
    assert "0 of 1 — a permission granted now can be redeemed at once" in \
        re.sub(r"\s+", " ", page.text)


async def test_a_lead_revokes_from_the_page_and_a_reviewer_cannot(app, desk, emitted):
    application = await _approved()
    lead = await desk.reviewer(role="lead")
    plain = await desk.reviewer()
    path = f"/review/applications/{application.reference}/permission/revoke"
    page = await lead.get(f"/review/applications/{application.reference}")
    assert 'action="' + path + '"' in page.text
    assert path not in (await plain.get(f"/review/applications/{application.reference}")).text
    refused = await plain.post(path, {"reason": "The receipt turned out to be forged."})
    assert refused.status_code == 403
    short = await lead.post(path, {"reason": "bad"})
    assert short.status_code == 422
    assert "at least 10 characters" in short.text and ">bad</textarea>" in short.text
    assert (await Permission.get(application_id=application.id)).revoked_at is None
    no_csrf = await lead.client.post(path, data={"reason": "The receipt was forged."})
    assert no_csrf.status_code == 403
    done = await lead.post(path, {"reason": "The receipt turned out to be forged."})
    assert done.status_code == 303
    page = await lead.get(done.headers["location"])
    assert "revoked</strong> on" in page.text and "turned out to be forged" in page.text
    assert 'id="revoke-permission"' not in page.text


def test_the_quota_is_a_setting(tmp_path):
    env = {"SUPPORT_DATA_DIR": str(tmp_path), "SUPPORT_SECRET_KEY": "x" * 40}
    defaults = Settings.from_env(env)
    assert (defaults.unlock_quota, defaults.unlock_quota_days) == (1, 365)
    chosen = Settings.from_env({**env, "SUPPORT_UNLOCK_QUOTA": "2",
                                "SUPPORT_UNLOCK_QUOTA_DAYS": "30"})
    assert (chosen.unlock_quota, chosen.unlock_quota_days) == (2, 30)
    for wrong in ({"SUPPORT_UNLOCK_QUOTA": "0"}, {"SUPPORT_UNLOCK_QUOTA": "one"},
                  {"SUPPORT_UNLOCK_QUOTA_DAYS": "0"}):
        with pytest.raises(ConfigError):
            Settings.from_env({**env, **wrong})


def test_the_quota_frees_when_the_unlock_that_fills_it_leaves_the_window():
    now = _now()
    quota = rules.Quota(2, 365)
    assert quota.frees_at([now - 10 * DAY], now) is None
    times = [now - 300 * DAY, now - 10 * DAY, now - 400 * DAY]
    assert quota.frees_at(times, now) == now - 300 * DAY + timedelta(days=365)
    assert quota.used(times, now) == 2
