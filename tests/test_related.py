"""The related-applications panel (reads/related.py): the other applications of the same
account, phone, IMEI or receipt file, with where each stands; blanks and redactions relate
nothing; bounded and indexed; those outside the reviewer's queues listed, not linked."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections

from support.data import sharing
from support.data.db import statements_sent
from support.data.models import Application, Document, Status
from support.reads.related import LIMIT, related_to
from support.workflow import retention, risk
from tests.conftest import DB_KIND
from tests.factories import make_application


async def receipt(application: Application, sha256: str) -> Document:
    return await Document.create(
        application=application, purpose="receipt", content_type="image/jpeg", size=1,
        sha256=sha256, storage_key=secrets.token_hex(16), original_name="r.jpg")


def shares(panel: Any) -> dict[str, tuple[str, ...]]:
    return {row.reference: row.shares for row in panel}


async def test_each_shared_value_relates_and_says_so(app):
    me = await make_application(imei="490154203237518")
    same_account = await make_application(account_id=me.account_id)
    same_phone = await make_application(phone=me.phone, kind="recovery")
    same_imei = await make_application(imei=me.imei)
    same_receipt = await make_application()
    everything = await make_application(account_id=me.account_id, phone=me.phone,
                                        imei=me.imei)
    stranger = await make_application()
    digest = secrets.token_hex(32)
    await receipt(me, digest)
    await receipt(same_receipt, digest)
    await receipt(stranger, secrets.token_hex(32))
    await receipt(stranger, "")  # no digest: never a match

    panel = await related_to(me)
    assert shares(panel) == {
        everything.reference: ("same account", "same phone", "same IMEI"),
        same_receipt.reference: ("same receipt file",),
        same_imei.reference: ("same IMEI",),
        same_phone.reference: ("same phone",),
        same_account.reference: ("same account",),
    }
    assert [row.reference for row in panel][0] == everything.reference  # newest first
    assert not panel.more
    row = next(r for r in panel if r.reference == same_phone.reference)
    assert row.kind == "Account recovery" and row.state == "Waiting for a reviewer"


async def test_outcomes_are_words(app):
    me = await make_application()
    now = datetime.now(UTC)
    await make_application(account_id=me.account_id, status=Status.REJECTED, decided_at=now,
                           decision_code="stable_firmware")
    await make_application(account_id=me.account_id, status=Status.APPROVED, decided_at=now)
    await make_application(account_id=me.account_id, status=Status.NEEDS_INFO)
    outcomes = sorted(row.outcome for row in await related_to(me))
    assert outcomes == [
        "Approved",
        "Refused: The phone runs a stable build; unlocking needs a developer build",
        "Waiting for the applicant",
    ]


async def test_blank_values_never_relate_to_each_other(app):
    first = await make_application(imei=None, phone="", email="", account_id="")
    second = await make_application(imei=None, phone="", email="", account_id="")
    await make_application(imei=None)
    assert list(await related_to(first)) == []
    assert list(await related_to(second)) == []
    # Nor does a blank IMEI on the other side: only real values match.
    me = await make_application(imei=None)
    assert list(await related_to(me)) == []


async def test_redacted_applications_relate_to_nothing(app):
    now = datetime.now(UTC)
    me = await make_application(imei="490154203237518")
    partner = await make_application(account_id=me.account_id, phone=me.phone, imei=me.imei,
                                     status=Status.REJECTED, decided_at=now)
    other = await make_application(status=Status.REJECTED, decided_at=now)
    digest = secrets.token_hex(32)
    await receipt(me, digest)
    await receipt(partner, digest)
    assert shares(await related_to(me))[partner.reference] == (
        "same account", "same phone", "same IMEI", "same receipt file")
    # Redacted by the retention policy, both of them: their placeholders are not values.
    rows = await Application.filter(id__in=[partner.id, other.id])
    await retention.redact(rows, now, requested=False)
    assert list(await related_to(me)) == []
    redacted = await Application.get(id=partner.id)
    assert redacted.redacted_at is not None
    with statements_sent() as seen:
        assert list(await related_to(redacted)) == []
    assert seen == []  # nothing left to compare: not even a statement
    # The risk signals read the same rule (data/sharing.py).
    assert await risk.compute(redacted) == []


async def test_the_panel_is_bounded_newest_first_in_two_statements(app):
    me = await make_application()
    made = []
    for n in range(LIMIT + 5):
        row = await make_application(phone=me.phone)
        await Application.filter(id=row.id).update(
            created_at=datetime.now(UTC) - timedelta(minutes=LIMIT + 5 - n))
        made.append(row.reference)
    digest = secrets.token_hex(32)
    await receipt(me, digest)
    with statements_sent() as seen:
        panel = await related_to(me)
    assert len(seen) == 2
    assert panel.more and len(panel) == LIMIT
    assert [row.reference for row in panel] == made[::-1][:LIMIT]


async def _plan(sql: str, values: list[Any]) -> str:
    connection = connections.get("default")
    if DB_KIND == "postgres":
        # No sequential scan where an index could serve: the tables are tiny here, so the
        # planner would rightly scan them; forbidding it shows whether an index exists.
        async with connection._in_transaction() as tx:
            await tx.execute_script("SET LOCAL enable_seqscan = off")
            rows = await tx.execute_query_dict("EXPLAIN " + sql, values)
        return "\n".join(str(next(iter(row.values()))) for row in rows)
    rows = await connection.execute_query_dict("EXPLAIN QUERY PLAN " + sql, values)
    return "\n".join(str(row["detail"]) for row in rows)


async def test_every_statement_reads_by_index(app):
    me = await make_application(imei="490154203237518")
    await make_application(phone=me.phone)
    await receipt(me, secrets.token_hex(32))
    with statements_sent() as seen:
        await related_to(me)
    assert len(seen) == 2
    for sql, values in seen:
        plan = await _plan(sql, values)
        if DB_KIND == "postgres":
            assert "Seq Scan" not in plan, plan
        else:
            scans = [line for line in plan.splitlines()
                     if re.match(r"SCAN (application|document)\b", line)
                     and "INDEX" not in line]
            assert not scans, plan


async def test_an_appeal_and_its_original_know_each_other(app):
    now = datetime.now(UTC)
    original = await make_application(status=Status.REJECTED, decided_at=now,
                                      decision_code="proof_mismatch")
    appeal = await make_application(kind="appeal", appeal_of=original,
                                    account_id=original.account_id, phone=original.phone)
    assert shares(await related_to(appeal))[original.reference] == (
        "same account", "same phone", "the refusal this appeals")
    assert shares(await related_to(original))[appeal.reference] == (
        "same account", "same phone", "an appeal of this one")


async def test_the_page_links_only_what_the_reviewer_may_open(desk):
    me = await make_application(kind="unlock", country="IN")
    in_scope = await make_application(kind="unlock", country="IN", phone=me.phone)
    elsewhere = await make_application(kind="recovery", country="IN", phone=me.phone,
                                       status=Status.REJECTED, decided_at=datetime.now(UTC),
                                       decision_code="device_reported")
    asha = await desk.reviewer("Asha", kinds=["unlock"], countries=["IN"])
    page = await asha.get(f"/review/applications/{me.reference}")
    assert page.status_code == 200
    panel = page.text.split('id="related-h"', 1)[1].split("</section>", 1)[0]
    assert f'href="/review/applications/{in_scope.reference}"' in panel
    assert elsewhere.reference in panel  # listed: the same phone refused elsewhere matters
    assert f'href="/review/applications/{elsewhere.reference}"' not in panel
    assert "outside your queues" in panel
    assert "The device is reported lost or stolen" in panel
    assert "Same phone" in panel
    # Its page stays closed to her.
    assert (await asha.get(f"/review/applications/{elsewhere.reference}")).status_code == 404
    # A lead sees every queue: both linked.
    lead = await desk.reviewer("Lee", role="lead")
    panel = (await lead.get(f"/review/applications/{me.reference}")).text
    assert f'href="/review/applications/{elsewhere.reference}"' in panel
    assert "outside your queues" not in panel


def test_redaction_placeholders_are_what_sharing_ignores():
    placeholder = retention.redacted(42)
    assert placeholder.startswith(sharing.REDACTED_PREFIX)
    assert not sharing.shareable(placeholder)
    assert not sharing.shareable("") and not sharing.shareable(None) and not sharing.shareable("  ")
    assert sharing.shareable("+919876543210")
