"""``rows.insert_with_children``: one statement on PostgreSQL, what the ORM would store,
and all or nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from support.data import db, rows
from support.data.models import (
    Application,
    Channel,
    Document,
    Event,
    Notification,
    Reviewer,
    Status,
    Verification,
)
from support.platform import tokens
from tests.factories import make_application

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
async def _database(app):  # noqa: ANN001, ANN202, PT004 - the app's lifespan opens it, empty
    yield


def _application(n: int) -> Application:
    return Application(
        reference=tokens.new_reference("UL"), kind="unlock", account_id=f"61234{n:05d}",
        country="IN", phone=f"+9198765{n:05d}", email=f"asha{n}@example.com",
        model="Redmi Note 10 Pro", firmware="OS1.0.23.12.18.DEV", firmware_channel="hyperos",
        imei=None, reason="I build kernels for this phone.", locale="hi",
        submission_key=f"rows-{n}", priority=2,
    )


def _children(key: str) -> list[Any]:
    return [
        Document(purpose="receipt", content_type="image/jpeg", size=1234, sha256="ab" * 32,
                 storage_key=key, original_name="रसीद.jpg"),
        Event(actor="applicant", type="submitted", to_status=Status.SUBMITTED.value),
        Verification(code_hash="cd" * 32, expires_at=NOW + timedelta(minutes=15), sends=1,
                     attempts=0, last_sent_at=NOW),
        Notification(channel=Channel.EMAIL, recipient="asha@example.com",
                     template="verification_code", context={"code": "123456", "n": [1, "à"]},
                     locale="hi", next_attempt_at=NOW, idempotency_key=f"{key}.email"),
        Notification(channel=Channel.SMS, recipient="+919876500001",
                     template="verification_code", context={"code": "123456"},
                     locale="hi", next_attempt_at=NOW, idempotency_key=f"{key}.sms"),
    ]


def _stored(row: Any, *ignore: str) -> dict[str, Any]:
    skip = {"id", "application_id", "created_at", "updated_at", "at", *ignore}
    return {name: getattr(row, name) for name in row._meta.fields_db_projection
            if name not in skip}


async def _save_each(parent: Application, children: list[Any]) -> None:
    """What the ORM stores, saved the plain way, for comparison."""
    await parent.save()
    for child in children:
        child.application = parent
        await child.save()


async def test_rows_are_stored_as_the_orm_stores_them() -> None:
    ours, theirs = _application(1), _application(2)
    mine, plain = _children("k" * 32), _children("m" * 32)
    await rows.insert_with_children(ours, mine)
    await _save_each(theirs, plain)

    assert ours.pk is not None and ours.pk != theirs.pk
    got = await Application.get(id=ours.pk)
    expected = await Application.get(id=theirs.pk)
    assert _stored(got, "reference", "account_id", "phone", "email", "submission_key") == \
        _stored(expected, "reference", "account_id", "phone", "email", "submission_key")
    assert got.status is Status.SUBMITTED and got.created_at is not None
    for model in (Document, Event, Verification, Notification):
        # Sibling clauses of one statement have no order: compare the rows as sets.
        one = [_stored(row, "storage_key", "idempotency_key")
               for row in await model.filter(application_id=ours.pk)]
        other = [_stored(row, "storage_key", "idempotency_key")
                 for row in await model.filter(application_id=theirs.pk)]
        assert len(one) == len(other) > 0, model
        assert sorted(map(repr, one)) == sorted(map(repr, other)), model
    assert all(child.application_id == ours.pk for child in mine)  # type: ignore[attr-defined]
    if Application._meta.db.capabilities.dialect == "postgres":  # through the inserts pool
        inserts = db.inserts()
        assert inserts is not None and inserts._pool is not None


async def test_a_failing_child_leaves_no_row_at_all() -> None:
    taken = await make_application()
    await Document.create(application=taken, purpose="receipt", content_type="image/jpeg",
                          size=1, sha256="0" * 64, storage_key="t" * 32, original_name="r.jpg")
    before = await Application.all().count()
    with pytest.raises(IntegrityError):
        async with in_transaction():
            await rows.insert_with_children(_application(3), _children("t" * 32))
    assert await Application.all().count() == before
    assert await Event.all().count() == 0
    assert await Notification.all().count() == 0


async def test_a_row_that_does_not_belong_to_the_parent_is_refused() -> None:
    stranger = Reviewer(email="ann@example.com", name="Ann", password_hash="x")
    with pytest.raises(TypeError):
        await rows.insert_with_children(_application(4), [stranger])


def test_postgres_gets_one_statement_whose_children_read_the_new_id() -> None:
    sql, params = rows.statement(_application(5), _children("s" * 32))
    assert sql.count("INSERT INTO") == 6
    assert sql.count("FROM new_parent") == 6  # five children and the final SELECT
    assert f"${len(params)}" in sql and f"${len(params) + 1}" not in sql


async def test_a_matching_row_stops_the_insert_and_nothing_is_written() -> None:
    first = _application(6)
    assert await rows.insert_with_children(first, _children("g" * 32),
                                           unless={"account_id": "6123400006"})
    second = _application(7)
    second.account_id = first.account_id
    guard = {"kind": "unlock", "account_id": first.account_id,
             "status": ["submitted", "queued"]}
    assert not await rows.insert_with_children(second, _children("h" * 32), unless=guard)
    assert second.pk is None
    assert await Application.filter(account_id=first.account_id).count() == 1
    assert not await Document.exists(storage_key="h" * 32)
    assert await Notification.all().count() == 2  # the first application's two

    # A guard that matches nothing (another kind, or a closed status) lets it in.
    assert await rows.insert_with_children(second, _children("h" * 32),
                                           unless={**guard, "status": ["approved"]})
    assert await Document.get(storage_key="h" * 32).values_list("application_id", flat=True) \
        == second.pk


def test_the_guard_is_part_of_the_one_statement() -> None:
    sql, params = rows.statement(_application(8), _children("q" * 32),
                                 unless={"account_id": "1", "status": [Status.QUEUED,
                                                                       Status.IN_REVIEW]})
    assert sql.count("INSERT INTO") == 6 and "WHERE NOT EXISTS" in sql
    assert ["queued", "in_review"] in params and "1" in params  # as the column stores them
    assert "ANY(" in sql


def test_each_shape_of_statement_gets_its_own_text() -> None:
    """The text is kept per shape: a statement without a guard, or with fewer children,
    must not be handed the text of another."""
    guarded, guarded_params = rows.statement(_application(9), _children("u" * 32),
                                             unless={"account_id": "9"})
    plain, plain_params = rows.statement(_application(10), _children("v" * 32))
    fewer, fewer_params = rows.statement(_application(11), _children("w" * 32)[:2])
    assert "NOT EXISTS" in guarded and "NOT EXISTS" not in plain
    assert len(guarded_params) == len(plain_params) + 1
    assert fewer.count("INSERT INTO") == 3
    for sql, params in ((guarded, guarded_params), (plain, plain_params),
                        (fewer, fewer_params)):
        assert f"${len(params)}" in sql and f"${len(params) + 1}" not in sql


def test_sqlite_texts_are_one_per_shape_whatever_the_guards_list_holds() -> None:
    """SQLite gets a statement a row; a list in the guard is one JSON parameter, so two
    lists of different lengths share a text, and every text has a ? for each value."""
    texts = []
    for number, statuses in ((12, ["submitted"]), (13, ["submitted", "queued", "in_review"])):
        shaped = rows._shaped(_application(number), _children("x" * 32),
                              {"account_id": "1", "status": statuses})
        parent, children = rows._sqlite_texts(shaped.parent, shaped.guard, shaped.children)
        texts.append((parent, children))
        assert parent.count("?") == len(shaped.values) + len(shaped.guard_values)
        assert "json_each(?)" in parent and parent.endswith('RETURNING "id"')
        assert [text.count("?") for text in children] == [
            len(values) + 1 for values in shaped.child_values]  # the parent's id first
    assert texts[0] == texts[1]
