"""Migration 0012 on a desk that already has rows: each row's phone is written backwards
(the search by its last digits finds it; redacted rows stay blank), and each application
waiting for an answer records who asked (My work), in batches, on either database."""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate as migrate_api

from support.data.db import tortoise_config
from tests.conftest import empty_database

BUSY_DESK = importlib.import_module("support.data.migrations.0012_busy_desk")


@pytest.fixture
async def upgraded_url(tmp_path) -> AsyncIterator[str]:
    async with empty_database("backfill", tmp_path) as url:
        yield url
        await Tortoise.close_connections()


async def _insert(connection, values: dict[str, object]) -> None:
    columns = ", ".join(values)
    postgres = connection.capabilities.dialect == "postgres"
    marks = ", ".join(f"${n}" if postgres else "?" for n in range(1, len(values) + 1))
    await connection.execute_query(
        f"INSERT INTO application ({columns}, created_at, updated_at) "  # noqa: S608
        f"VALUES ({marks}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)", list(values.values()))


def _row(n: int, **extra: object) -> dict[str, object]:
    return {"reference": f"UL-AAAA-{n:04d}", "kind": "unlock", "status": "queued",
            "account_id": f"61000000{n:02d}", "country": "IN", "phone": f"+9198123400{n:02d}",
            "email": f"a{n}@example.com", "model": "POCO F5", "firmware": "1", "firmware_channel":
            "developer", "reason": "r", "locale": "en", "priority": 0,
            "submission_key": f"key-{n}", **extra}


async def test_backfill_fills_phone_backwards_and_who_asked(upgraded_url, monkeypatch):
    monkeypatch.setattr(BUSY_DESK, "BACKFILL_BATCH", 2)  # several batches of a few rows
    config = tortoise_config(upgraded_url)
    await migrate_api(config=config, target="models.0011_reviewer_security")
    connection = connections.get("default")
    await connection.execute_query(
        "INSERT INTO reviewer (email, name, password_hash, role, active, created_at) "
        "VALUES ('a@example.com', 'Asha', 'x', 'reviewer', TRUE, CURRENT_TIMESTAMP)")
    _, reviewers = await connection.execute_query("SELECT id FROM reviewer")
    asha = int(reviewers[0]["id"])
    for n in range(1, 6):
        await _insert(connection, _row(n))
    await _insert(connection, _row(6, status="needs_info", info_request=json.dumps(
        {"items": ["receipt"], "message": "Please.", "reviewer_id": asha})))
    await _insert(connection, _row(7, status="needs_info", info_request=json.dumps(
        {"items": ["receipt"], "message": "Please.", "reviewer_id": asha + 99})))  # deleted
    await _insert(connection, _row(8, status="needs_info", info_request=None))
    await _insert(connection, _row(9, status="rejected", phone="redacted-9", email="redacted-9",
                                   redacted_at=None))
    await connection.execute_query(
        "UPDATE application SET redacted_at = CURRENT_TIMESTAMP WHERE reference = 'UL-AAAA-0009'")
    await Tortoise.close_connections()

    await migrate_api(config=config)
    connection = connections.get("default")
    rows = await connection.execute_query_dict(
        "SELECT reference, phone, phone_reversed, asked_by_id FROM application ORDER BY id")
    by_reference = {row["reference"]: row for row in rows}
    for n in range(1, 9):
        row = by_reference[f"UL-AAAA-{n:04d}"]
        assert row["phone_reversed"] == row["phone"][::-1], row
    assert by_reference["UL-AAAA-0009"]["phone_reversed"] == ""
    assert by_reference["UL-AAAA-0006"]["asked_by_id"] == asha
    assert by_reference["UL-AAAA-0007"]["asked_by_id"] is None  # the reviewer is gone
    assert by_reference["UL-AAAA-0008"]["asked_by_id"] is None
    assert all(by_reference[f"UL-AAAA-{n:04d}"]["asked_by_id"] is None for n in range(1, 6))
    # The last digits find them through the new column.
    _, found = await connection.execute_query(
        "SELECT reference FROM application WHERE phone_reversed >= '30' AND "
        "phone_reversed < '31'")
    assert [row["reference"] for row in found] == ["UL-AAAA-0003"]


async def test_approvals_from_before_permissions_get_their_permission(upgraded_url):
    """Migration 0016: an approval made before permissions were rows gets one, with the
    end the applicant was told; other states and rows that have one get nothing."""
    config = tortoise_config(upgraded_url)
    await migrate_api(config=config, target="models.0015_unlock_api")
    connection = connections.get("default")
    decided, ends = datetime(2026, 12, 1, 10, tzinfo=UTC), datetime(2026, 12, 15, 10, tzinfo=UTC)
    await _insert(connection, _row(1, status="approved", decided_at=decided,
                                   permission_expires_at=ends))
    await _insert(connection, _row(2, status="rejected", decided_at=decided))
    await _insert(connection, _row(3, status="approved", decided_at=decided,
                                   permission_expires_at=ends))
    _, third = await connection.execute_query(
        "SELECT id FROM application WHERE reference = 'UL-AAAA-0003'")
    await connection.execute_query(
        "INSERT INTO permission (application_id, account_id, model, granted_at, expires_at) "
        f"VALUES ({int(third[0]['id'])}, 'x', 'y', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
    await Tortoise.close_connections()

    await migrate_api(config=config)
    connection = connections.get("default")
    rows = await connection.execute_query_dict(
        "SELECT a.reference, p.account_id, p.model, p.expires_at FROM permission p "
        "JOIN application a ON a.id = p.application_id ORDER BY a.reference")
    assert [(row["reference"], row["account_id"], row["model"]) for row in rows] == [
        ("UL-AAAA-0001", "6100000001", "POCO F5"), ("UL-AAAA-0003", "x", "y")]
    assert str(rows[0]["expires_at"]).startswith("2026-12-15 10:00")
