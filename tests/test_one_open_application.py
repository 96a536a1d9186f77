"""One open application per kind per account, also at confirmation (issue 19, finding 3).

At submission the rule counts only confirmed applications (an unconfirmed one may be a
stranger's typo and must not lock the owner out), so two unconfirmed unlock applications
of one account, sent from two phones, are both accepted. Confirming is where one becomes
open: ``workflow.verify`` checks the rule again inside its transaction, under a lock on
(kind, account), so of two confirmations at once exactly one succeeds, on both databases.
The second applicant is told where the first one stands, and nothing else."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from typing import Any

import pytest

from support import workflow
from support.config import Settings
from support.data.models import Application, Channel, Notification, Status
from support.documents.store import DocumentStore
from support.platform import i18n
from support.rules.kinds import KINDS
from support.workflow import DomainError
from support.workflow import applicant as applicant_workflow
from support.workflow.applicant import ONE_AT_A_TIME
from tests.conftest import UNLOCK, Applicant

_numbers = itertools.count(1)
ACTIVE = (Status.QUEUED, Status.IN_REVIEW, Status.NEEDS_INFO)


async def unconfirmed(settings: Settings, account_id: str) -> tuple[str, str]:
    """An unlock application waiting for its code, from a phone of its own: its reference
    and the code its SMS carries."""
    n = next(_numbers)
    data = workflow.ApplicationInput(
        kind=KINDS["unlock"], account_id=account_id, country="IN", phone=f"+9198765{n:05d}",
        email=f"twin{n}@example.com", model="Redmi Note 10 Pro", firmware="21.3.17",
        firmware_channel="developer", imei=None,
        reason="I develop a custom kernel for this phone and need to flash test builds.",
        locale="en",
    )
    application = await workflow.submit(settings, DocumentStore.of(settings), data, [],
                                        secrets.token_hex(16))
    row = await Notification.get(application_id=application.id, template="verification_code",
                                 channel=Channel.SMS)
    return application.reference, str(row.context["code"])


async def confirm_at_once(settings: Settings, pending: list[tuple[str, str]]) -> list[Any]:
    """Every confirmation started together; each one's link or its refusal."""
    start = asyncio.Event()

    async def one(reference: str, code: str) -> str:
        await start.wait()
        return await workflow.verify(settings, reference, code)

    tasks = [asyncio.create_task(one(reference, code)) for reference, code in pending]
    await asyncio.sleep(0)
    start.set()
    return list(await asyncio.wait_for(
        asyncio.gather(*tasks, return_exceptions=True), timeout=30))


async def test_two_unconfirmed_applications_cannot_both_be_confirmed(
    app, applicant: Applicant,
) -> None:
    account = {"account_id": "6123456789"}
    first = await applicant.submit("unlock", {**UNLOCK, **account, "phone": "98765 43210"})
    second = await applicant.submit("unlock", {**UNLOCK, **account, "phone": "98765 43211",
                                               "email": "other@example.com"})
    assert first.status_code == second.status_code == 303  # both accepted: unconfirmed
    one, two = await Application.all().order_by("id")
    codes = dict(await Notification.filter(template="verification_code", channel=Channel.SMS)
                 .values_list("application_id", "context"))
    assert (await applicant.post_form(first.headers["location"],
                                      {"code": codes[one.id]["code"]})).status_code == 303

    refused = await applicant.post_form(second.headers["location"],
                                        {"code": codes[two.id]["code"]})
    assert refused.status_code == 409
    assert "already has another application of this kind" in refused.text
    assert "waiting for a reviewer" in refused.text  # where the first one stands
    for secret in (one.reference, "43210", "asha@", "a•••@example.com", "+91•"):
        assert secret not in refused.text  # and nothing else about it
    await two.refresh_from_db()
    assert two.status is Status.SUBMITTED
    assert await Application.filter(account_id="6123456789", status__in=ACTIVE).count() == 1


async def test_the_second_applicant_is_told_in_their_language(
    app, applicant: Applicant, client, settings: Settings,
) -> None:
    first_ref, first_code = await unconfirmed(settings, "6123456789")
    second_ref, second_code = await unconfirmed(settings, "6123456789")
    await workflow.verify(settings, first_ref, first_code)
    client.cookies.set(i18n.COOKIE, "hi")
    refused = await applicant.post_form(f"/applications/{second_ref}/verify",
                                        {"code": second_code})
    assert refused.status_code == 409
    hindi = i18n.translations("hi")
    told = hindi.gettext(ONE_AT_A_TIME) % {"status": hindi.gettext("waiting for a reviewer")}
    assert told != ONE_AT_A_TIME % {"status": "waiting for a reviewer"}
    assert told in refused.text
    assert first_ref not in refused.text


async def test_two_confirmations_at_once_open_one_application(
    app, settings: Settings,
) -> None:
    # Five accounts, each with two applications confirmed at the same moment.
    accounts = [f"61234567{n:02d}" for n in range(5)]
    pending = [await unconfirmed(settings, account) for account in accounts for _ in range(2)]
    results = await confirm_at_once(settings, pending)
    links = [result for result in results if isinstance(result, str)]
    refusals = [result for result in results if isinstance(result, DomainError)]
    assert len(links) == len(accounts), results
    assert len(refusals) == len(accounts), results
    assert all(refusal.message == ONE_AT_A_TIME for refusal in refusals)
    for account in accounts:
        assert await Application.filter(account_id=account, status__in=ACTIVE).count() == 1


async def test_a_confirmation_waits_for_one_in_flight_for_the_same_account(
    app, settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The race made certain: the first confirmation has checked and not yet committed
    when the second one starts. A check without the lock would let both through."""
    first = await unconfirmed(settings, "6123456789")
    second = await unconfirmed(settings, "6123456789")
    checked, go = asyncio.Event(), asyncio.Event()
    confirm = applicant_workflow._confirm

    async def held(settings: Settings, application: Application) -> str:
        if not checked.is_set():  # the first one through waits here, inside its transaction
            checked.set()
            await go.wait()
        return await confirm(settings, application)

    monkeypatch.setattr(applicant_workflow, "_confirm", held)
    one = asyncio.create_task(workflow.verify(settings, *first))
    await asyncio.wait_for(checked.wait(), timeout=10)
    two = asyncio.create_task(workflow.verify(settings, *second))
    await asyncio.sleep(0.5)  # the second gets as far as it can
    assert not two.done()  # it waits for the first: no database call from here until go
    go.set()
    results = await asyncio.wait_for(asyncio.gather(one, two, return_exceptions=True), 30)
    assert isinstance(results[0], str), results
    assert isinstance(results[1], DomainError) and results[1].message == ONE_AT_A_TIME, results
    assert await Application.filter(account_id="6123456789", status__in=ACTIVE).count() == 1
