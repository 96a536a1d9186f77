"""An appeal belongs to the refused application (issue 19, finding 1).

An appeal is queued at once, on the strength of the contacts confirmed for the refused
application, so it keeps that application's account ID, country, phone and email: the
form shows them and asks only the rest, and anything posted for them is ignored. Like any
application it counts against the phone's and the account's daily allowance and is
refused while the account has an open one of its kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx2

from support import workflow
from support.config import Settings
from support.data.models import Application, Notification, Status
from support.platform.formatting import mask_email, mask_phone
from tests.conftest import BASE, UNLOCK, Applicant
from tests.factories import make_application

NEW_REASON = "I maintain the LineageOS port for this phone and test every nightly build."
# What an attacker holding the status link posts: somebody else's account, their own
# phone and email, and a country whose reviewers they prefer.
OTHER = {"account_id": "7000000001", "country": "RU", "phone": "+7 912 345-67-89",
         "email": "someone.else@example.net"}


async def refused(settings: Settings, **overrides: object) -> tuple[Application, str]:
    """A refused unlock application and the path of its private status page."""
    facts: dict[str, object] = {"status": Status.REJECTED, "decided_at": datetime.now(UTC),
                                "decision_code": "reason_insufficient", **overrides}
    original = await make_application(**facts)
    link = await workflow.new_status_link(settings, original)
    return original, link.removeprefix(BASE)


def appeal_form(original: Application, **changes: str) -> dict[str, str]:
    """The form as an honest browser posts it: what the page shows, a new reason. (Before
    issue 19 the page pre-filled the account and contacts into fields that were posted.)"""
    return {"account_id": original.account_id, "country": original.country,
            "phone": original.phone, "email": original.email, "model": UNLOCK["model"],
            "firmware": UNLOCK["firmware"], "reason": NEW_REASON, **changes}


async def test_the_appeal_form_shows_the_account_and_contacts_without_asking_them(
    app, client: httpx2.AsyncClient, settings: Settings,
) -> None:
    original, status_path = await refused(settings)
    form = await client.get(status_path + "/appeal")
    assert form.status_code == 200
    for name in ("account_id", "country", "phone", "email"):
        assert f'name="{name}"' not in form.text, name  # shown, not asked
    assert original.account_id in form.text
    assert mask_phone(original.phone) in form.text
    assert mask_email(original.email) in form.text
    assert "India" in form.text
    for name in ("model", "firmware", "reason"):  # what the appeal may change
        assert f'name="{name}"' in form.text, name
    assert "the same phone and email" in form.text


async def test_an_appeal_keeps_the_refused_applications_account_and_contacts(
    app, applicant: Applicant, outbox, settings: Settings,
) -> None:
    original, status_path = await refused(settings)
    sent = await applicant.post_form(status_path + "/appeal", appeal_form(original, **OTHER))
    assert sent.status_code == 303, sent.text
    appeal = await Application.get(appeal_of_id=original.id)
    assert appeal.status is Status.QUEUED
    # The account, the country (which decides the reviewers) and the contacts are the
    # refused application's, whatever was posted.
    assert (appeal.account_id, appeal.country, appeal.phone, appeal.email) == (
        original.account_id, original.country, original.phone, original.email)
    assert appeal.reason == NEW_REASON
    # Its messages go to the contacts confirmed for the original, and nowhere else.
    recipients = set(await Notification.filter(application_id=appeal.id)
                     .values_list("recipient", flat=True))
    assert recipients == {original.phone, original.email}
    await outbox.deliver()
    assert {m["to"] for m in outbox.sms()} == {original.phone}
    assert {str(m["To"]) for m in outbox.emails()} == {original.email}


async def test_an_appeal_counts_against_the_account_and_phone_limits(
    app, applicant: Applicant, settings: Settings,
) -> None:
    # Three applications for the account today (unconfirmed, from three phones): its
    # allowance is spent, and an appeal is one more application for it.
    original, status_path = await refused(settings, account_id="6123456789")
    for n in range(3):
        accepted = await applicant.submit("unlock", {**UNLOCK, "phone": f"98765 432{n:02d}"})
        assert accepted.status_code == 303, accepted.text
    refused_appeal = await applicant.post_form(status_path + "/appeal", appeal_form(original))
    assert refused_appeal.status_code == 429
    assert "for this account today" in refused_appeal.text
    assert not await Application.exists(appeal_of_id=original.id)

    # The same for the phone: three applications from it today, for other accounts.
    other, other_path = await refused(settings, phone="+919876543299")
    for n in range(3):
        accepted = await applicant.submit("unlock", {
            **UNLOCK, "phone": "98765 43299", "account_id": f"61234500{n:02d}"})
        assert accepted.status_code == 303, accepted.text
    refused_appeal = await applicant.post_form(other_path + "/appeal", appeal_form(other))
    assert refused_appeal.status_code == 429
    assert "for this phone number today" in refused_appeal.text
    assert not await Application.exists(appeal_of_id=other.id)


async def test_an_accepted_appeal_costs_an_allowance(
    app, applicant: Applicant, settings: Settings,
) -> None:
    original, status_path = await refused(settings, account_id="6123456789")
    assert (await applicant.post_form(status_path + "/appeal", appeal_form(original))
            ).status_code == 303
    for n in range(2):
        accepted = await applicant.submit("unlock", {**UNLOCK, "phone": f"98765 432{n:02d}"})
        assert accepted.status_code == 303, accepted.text
    fourth = await applicant.submit("unlock", {**UNLOCK, "phone": "98765 43209"})
    assert fourth.status_code == 429
    assert "for this account today" in fourth.text


async def test_an_appeal_is_refused_while_the_account_has_an_open_appeal(
    app, applicant: Applicant, settings: Settings,
) -> None:
    # Two refusals of one account: appealing both would put two appeals of one account
    # before reviewers at once.
    account = "6123456789"
    first, first_path = await refused(settings, account_id=account)
    second, second_path = await refused(settings, account_id=account,
                                        decided_at=datetime.now(UTC) - timedelta(days=2))
    assert (await applicant.post_form(first_path + "/appeal", appeal_form(first))
            ).status_code == 303
    again = await applicant.post_form(second_path + "/appeal", appeal_form(second))
    assert again.status_code == 409
    assert "already has another application of this kind" in again.text
    assert "waiting for a reviewer" in again.text
    appeal = await Application.get(appeal_of_id=first.id)
    assert appeal.reference not in again.text  # where it stands, nothing else
    assert not await Application.exists(appeal_of_id=second.id)
    assert await Application.filter(kind="appeal", account_id=account).count() == 1
