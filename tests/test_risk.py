"""Risk signals: what fires, the near misses that must not, and the stored flags."""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support.data.models import Application, Document, RiskFlag, Status
from support.workflow import risk

_numbers = itertools.count(1)
NOW = datetime.now(UTC)


async def make(**overrides: Any) -> Application:
    """An application with unique reference, account, phone and key unless overridden."""
    n = next(_numbers)
    data: dict[str, Any] = {
        "reference": f"UL-{n:06d}",
        "kind": "unlock",
        "account_id": f"6{n:09d}",
        "country": "IN",
        "phone": f"+9198{n:08d}",
        "email": f"owner{n}@example.com",
        "model": "Redmi Note 10 Pro",
        "firmware": "21.3.17",
        "firmware_channel": "developer",
        "reason": "I develop a custom kernel for this phone and need to flash test builds.",
        "submission_key": f"key-{n}-{secrets.token_hex(8)}",
    }
    data.update(overrides)
    return await Application.create(**data)


async def aged(application: Application, days: float) -> Application:
    """Moves created_at into the past (auto_now_add ignores a value given to create)."""
    await Application.filter(id=application.pk).update(created_at=NOW - timedelta(days=days))
    return application


async def document(application: Application, sha256: str, purpose: str = "receipt") -> Document:
    return await Document.create(
        application=application, purpose=purpose, content_type="image/jpeg", size=1,
        sha256=sha256, storage_key=secrets.token_hex(16), original_name="r.jpg",
    )


async def signals(application: Application) -> dict[str, risk.Signal]:
    return {signal.code: signal for signal in await risk.compute(application, NOW)}


def test_codes_are_labelled():
    assert list(risk.CODES) == [
        "same_imei", "same_receipt", "recent_unlock", "shared_phone", "unlock_not_offered",
        "imei_differs",
    ]
    assert all(label and len(label) <= 40 for label in risk.CODES.values())


# same_imei

async def test_same_imei_in_other_accounts_fires_newest_first(app):
    imei = "490154203237518"
    older = await aged(await make(kind="recovery", imei=imei, status=Status.REJECTED), 5)
    newer = await aged(await make(kind="recovery", imei=imei), 1)
    target = await make(kind="recovery", imei=imei)
    found = await signals(target)
    assert set(found) == {"same_imei"}
    assert found["same_imei"].related == [newer.reference, older.reference]
    assert found["same_imei"].reason == "The same IMEI is in 2 applications of other accounts."


async def test_same_imei_single_match_reads_well(app):
    other = await make(kind="recovery", imei="490154203237518")
    target = await make(kind="recovery", imei="490154203237518")
    found = await signals(target)
    assert found["same_imei"].reason == "The same IMEI is in 1 application of another account."
    assert found["same_imei"].related == [other.reference]


async def test_same_imei_near_misses(app):
    imei = "490154203237518"
    target = await make(kind="recovery", imei=imei, account_id="6000000001")
    await make(kind="recovery", imei=imei, account_id="6000000001")  # same account
    await make(kind="recovery", imei=imei, status=Status.EXPIRED)  # never confirmed
    await make(kind="recovery", imei="490154203237526")  # another IMEI
    assert "same_imei" not in await signals(target)


async def test_missing_imei_matches_nothing(app):
    await make(imei=None)
    target = await make(imei=None)
    assert "same_imei" not in await signals(target)


# same_receipt

async def test_same_receipt_file_fires_once_per_application(app):
    target = await make()
    await document(target, "a" * 64)
    await document(target, "b" * 64)
    first = await aged(await make(), 3)
    await document(first, "a" * 64)
    second = await make()
    await document(second, "a" * 64)
    await document(second, "b" * 64)  # two matching receipts, still one application
    found = await signals(target)
    assert set(found) == {"same_receipt"}
    assert found["same_receipt"].related == [second.reference, first.reference]
    assert found["same_receipt"].reason == "The same receipt file is in 2 other applications."


async def test_same_receipt_counts_only_receipts(app):
    target = await make()
    await document(target, "a" * 64)
    await document(target, "c" * 64, purpose="box_photo")
    box = await make()
    await document(box, "a" * 64, purpose="box_photo")  # same file, not as a receipt
    photo_reused = await make()
    await document(photo_reused, "c" * 64)  # our box photo is their receipt
    await document(await make(), "d" * 64)
    assert "same_receipt" not in await signals(target)


async def test_own_receipt_twice_is_not_a_match(app):
    target = await make()
    await document(target, "a" * 64)
    await document(target, "a" * 64)
    assert await signals(target) == {}


# recent_unlock

async def test_recent_unlock_of_same_account_fires(app):
    account = "6111111111"
    approved = await make(account_id=account, status=Status.APPROVED,
                          decided_at=NOW - timedelta(days=10))
    appeal = await make(account_id=account, kind="appeal", status=Status.APPROVED,
                        decided_at=NOW - timedelta(days=2))
    target = await make(account_id=account)
    found = await signals(target)
    assert set(found) == {"recent_unlock"}
    assert found["recent_unlock"].related == [appeal.reference, approved.reference]
    latest = (NOW - timedelta(days=2)).strftime("%Y-%m-%d")
    assert found["recent_unlock"].reason == (
        f"This account had 2 unlock applications approved in the last 30 days, "
        f"the latest on {latest}."
    )


async def test_recent_unlock_single(app):
    approved = await make(account_id="6111111111", status=Status.APPROVED,
                          decided_at=NOW - timedelta(days=29))
    target = await make(account_id="6111111111", kind="recovery")
    found = await signals(target)
    day = (NOW - timedelta(days=29)).strftime("%Y-%m-%d")
    assert found["recent_unlock"].reason == (
        f"This account had an unlock application approved in the last 30 days on {day}."
    )
    assert found["recent_unlock"].related == [approved.reference]


async def test_recent_unlock_near_misses(app):
    account = "6111111111"
    await make(account_id=account, status=Status.APPROVED, decided_at=NOW - timedelta(days=31))
    await make(account_id=account, status=Status.REJECTED, decided_at=NOW - timedelta(days=1))
    await make(account_id=account, kind="recovery", status=Status.APPROVED,
               decided_at=NOW - timedelta(days=1))
    await make(status=Status.APPROVED, decided_at=NOW - timedelta(days=1))  # other account
    target = await make(account_id=account, status=Status.APPROVED,
                        decided_at=NOW - timedelta(days=1))  # itself
    assert "recent_unlock" not in await signals(target)


# shared_phone

async def test_three_accounts_on_one_phone_is_fine(app):
    phone = "+919876543210"
    await make(phone=phone)
    await make(phone=phone)
    await make(phone=phone, account_id="6000000009")
    await aged(await make(phone=phone), 91)  # a fourth account, but too long ago
    target = await make(phone=phone, account_id="6000000009")  # same account as one above
    assert "shared_phone" not in await signals(target)


async def test_four_accounts_on_one_phone_fires(app):
    phone = "+919876543210"
    oldest = await aged(await make(phone=phone), 80)
    middle = await aged(await make(phone=phone), 40)
    newest = await aged(await make(phone=phone), 1)
    mine = await make(phone=phone, account_id="6000000009")
    await aged(await make(phone=phone), 91)
    target = await make(phone=phone, account_id="6000000009")
    found = await signals(target)
    assert set(found) == {"shared_phone"}
    assert found["shared_phone"].reason == (
        "This phone number is used by 4 accounts in applications from the last 90 days."
    )
    # The other accounts' applications: those that make the phone suspicious.
    assert found["shared_phone"].related == [newest.reference, middle.reference, oldest.reference]
    assert mine.reference not in found["shared_phone"].related


# unlock_not_offered

@pytest.mark.parametrize(
    ("kind", "model", "fires"),
    [
        ("unlock", "Redmi 9A", True),
        ("appeal", "xiaomi  redmi 9a", True),
        ("unlock", "dandelion", True),
        ("recovery", "Redmi 9A", False),
        ("unlock", "Redmi Note 10 Pro", False),
        ("unlock", "Some Other Phone", False),
    ],
)
async def test_unlock_not_offered(app, kind, model, fires):
    found = await signals(await make(kind=kind, model=model))
    assert ("unlock_not_offered" in found) is fires
    if fires:
        assert found["unlock_not_offered"].reason == (
            "Bootloader unlocking is not offered for the Redmi 9A (dandelion)."
        )
        assert found["unlock_not_offered"].related == []


async def test_clean_application_has_no_signals(app):
    target = await make(imei="490154203237518")
    await document(target, "a" * 64)
    await make()
    assert await risk.compute(target) == []


# refresh

async def flags_of(application: Application) -> dict[str, RiskFlag]:
    return {flag.code: flag for flag in await RiskFlag.filter(application_id=application.pk)}


async def test_refresh_creates_updates_and_removes_flags(app):
    imei = "490154203237518"
    other = await make(kind="recovery", imei=imei)
    target = await make(kind="unlock", model="Redmi 9A", imei=imei)

    rows = await risk.refresh(target, NOW)
    assert [flag.code for flag in rows] == ["same_imei", "unlock_not_offered"]
    stored = await flags_of(target)
    assert set(stored) == {"same_imei", "unlock_not_offered"}
    assert stored["same_imei"].related == [other.reference]
    first_ids = {code: flag.pk for code, flag in stored.items()}

    # Rerun: nothing changes, no duplicates.
    await risk.refresh(target, NOW)
    assert {code: flag.pk for code, flag in (await flags_of(target)).items()} == first_ids
    assert await RiskFlag.filter(application_id=target.pk).count() == 2

    # A second match: the same row gets the new reason and references.
    newer = await make(kind="recovery", imei=imei)
    await risk.refresh(target, NOW)
    stored = await flags_of(target)
    assert stored["same_imei"].pk == first_ids["same_imei"]
    assert stored["same_imei"].related == [newer.reference, other.reference]
    assert "2 applications" in stored["same_imei"].reason

    # Both matches stop counting: the flag disappears, the other stays.
    await Application.filter(id__in=[other.pk, newer.pk]).update(status=Status.EXPIRED)
    rows = await risk.refresh(target, NOW)
    assert [flag.code for flag in rows] == ["unlock_not_offered"]
    assert set(await flags_of(target)) == {"unlock_not_offered"}
    assert (await flags_of(target))["unlock_not_offered"].pk == first_ids["unlock_not_offered"]


async def test_refresh_touches_only_its_application(app):
    imei = "490154203237518"
    other = await make(kind="recovery", imei=imei)
    target = await make(kind="recovery", imei=imei)
    await risk.refresh(other, NOW)
    await Application.filter(id=target.pk).update(imei="490154203237526")
    target = await Application.get(id=target.pk)
    assert await risk.refresh(target, NOW) == []
    assert set(await flags_of(other)) == {"same_imei"}  # stale until other is refreshed
    assert await RiskFlag.filter(application_id=target.pk).count() == 0


# size

class QueryCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.queries = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().lstrip().upper()
        if text.startswith(("SELECT", "INSERT", "UPDATE", "DELETE")):
            self.queries += 1


async def counted_compute(application: Application) -> tuple[list[risk.Signal], int]:
    logger = logging.getLogger("tortoise.db_client")
    counter = QueryCounter()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    try:
        found = await risk.compute(application, NOW)
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)
    return found, counter.queries


async def crowd(count: int, phone: str, imei: str, sha256: str, account: str) -> None:
    for _ in range(count):
        other = await make(phone=phone, imei=imei, kind="recovery")
        await document(other, sha256)
        await make(account_id=account, status=Status.APPROVED, decided_at=NOW - timedelta(days=1))


async def test_query_count_is_fixed_and_related_is_capped(app):
    phone, imei, sha256, account = "+919876543210", "490154203237518", "e" * 64, "6222222222"
    target = await make(phone=phone, imei=imei, account_id=account, model="Redmi 9A")
    receipt = await document(target, sha256)
    # The worker read another IMEI on it (issue 26).
    await Document.filter(id=receipt.id).update(read_at=NOW, findings=[
        {"fact": "imei", "value": "865432109876549", "source": "text", "where": "line 4"}])
    await crowd(1, phone, imei, sha256, account)
    _, few = await counted_compute(target)

    await crowd(49, phone, imei, sha256, account)
    found, fifty = await counted_compute(target)
    await crowd(50, phone, imei, sha256, account)
    again, hundred = await counted_compute(target)

    assert 0 < few <= fifty == hundred <= 9  # one more for a document's IMEI (issue 26)
    by_code = {signal.code: signal for signal in again}
    assert list(by_code) == list(risk.CODES)
    assert all(len(signal.related) <= risk.RELATED_LIMIT for signal in found + again)
    assert len(by_code["shared_phone"].related) == risk.RELATED_LIMIT
    assert by_code["shared_phone"].reason.startswith("This phone number is used by 101 accounts")
    assert by_code["same_imei"].reason == "The same IMEI is in 100 applications of other accounts."
    assert by_code["same_receipt"].reason == "The same receipt file is in 100 other applications."
    assert "100 unlock applications" in by_code["recent_unlock"].reason
    newest = await Application.filter(phone=phone).exclude(id=target.pk).order_by(
        "-created_at", "-id").limit(20).values_list("reference", flat=True)
    assert by_code["shared_phone"].related == list(newest)


async def test_concurrent_refreshes_leave_one_row_per_code(app):
    await make(kind="recovery", imei="490154203237518")
    target = await make(kind="unlock", model="Redmi 9A", imei="490154203237518")
    results = await asyncio.gather(*(risk.refresh(target, NOW) for _ in range(4)))
    assert all([flag.code for flag in rows] == ["same_imei", "unlock_not_offered"] for rows in results)
    assert await RiskFlag.filter(application_id=target.pk).count() == 2
