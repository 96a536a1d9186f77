"""One account, one value (issue 19, finding 2).

"04018222164" is account 4018222164: a zero typed in front must not make a fresh account
that escapes the "unlock approved in the last 30 days" signal, the one open application
per account, or the account's daily allowance. The check stores the ID without its zeros
in front (``rules.validation.check_account_id``), and the status page shows what was kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support.config import Settings
from support.data.models import Application, RiskFlag, Status
from tests.conftest import UNLOCK, Applicant, Outbox
from tests.factories import make_application

ACCOUNT = "4018222164"
PADDED = "04018222164"


async def test_zeros_in_front_are_dropped_and_the_kept_id_is_shown(
    app, applicant: Applicant, outbox: Outbox, client,
) -> None:
    submitted = await applicant.submit("unlock", {**UNLOCK, "account_id": PADDED})
    assert submitted.status_code == 303, submitted.text
    application = await Application.get()
    assert application.account_id == ACCOUNT
    code = await outbox.last_code()
    confirmed = await applicant.post_form(submitted.headers["location"], {"code": code})
    assert confirmed.status_code == 303, confirmed.text
    page = await client.get(confirmed.headers["location"])
    assert f"<dd>{ACCOUNT}</dd>" in page.text  # what was kept, for the applicant to see
    assert PADDED not in page.text


async def test_a_zero_in_front_does_not_escape_the_recent_unlock_signal(
    app, applicant: Applicant, outbox: Outbox,
) -> None:
    await make_application(account_id=ACCOUNT, status=Status.APPROVED,
                           decided_at=datetime.now(UTC) - timedelta(days=3))
    submitted = await applicant.submit("unlock", {**UNLOCK, "account_id": PADDED})
    assert submitted.status_code == 303, submitted.text
    code = await outbox.last_code()
    assert (await applicant.post_form(submitted.headers["location"], {"code": code})
            ).status_code == 303
    new = await Application.get(status=Status.QUEUED)
    assert await RiskFlag.exists(application_id=new.id, code="recent_unlock")


async def test_a_zero_in_front_does_not_open_a_second_application(
    app, applicant: Applicant,
) -> None:
    await make_application(account_id=ACCOUNT)  # confirmed and queued
    again = await applicant.submit("unlock", {**UNLOCK, "account_id": PADDED})
    assert again.status_code == 422
    assert "already has an application of this kind" in again.text
    assert await Application.all().count() == 1


async def test_a_zero_in_front_does_not_buy_a_fresh_daily_allowance(
    app, applicant: Applicant, settings: Settings,
) -> None:
    assert settings.rate_limits
    for n in range(3):  # unconfirmed, from three phones: the account's allowance is spent
        accepted = await applicant.submit("unlock", {
            **UNLOCK, "account_id": ACCOUNT, "phone": f"98765 432{n:02d}"})
        assert accepted.status_code == 303, accepted.text
    for typed in (PADDED, "00" + ACCOUNT):
        fourth = await applicant.submit("unlock", {
            **UNLOCK, "account_id": typed, "phone": "98765 43209"})
        assert fourth.status_code == 429, typed
        assert "for this account today" in fourth.text
    assert await Application.all().count() == 3
