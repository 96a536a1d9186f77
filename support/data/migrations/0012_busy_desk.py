from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from typing import Any

# Rows read and written a batch at a time: a deployed desk of a million rows is backfilled
# in bounded statements, not one transaction-long UPDATE of every row through Python.
BACKFILL_BATCH = 5000


async def backfill(apps: Any, schema_editor: Any) -> None:
    """Rows made before this migration: the phone written backwards (the search by its
    last digits; redacted rows keep it blank), and who asked for information on those
    waiting for an answer (``info_request``'s reviewer, where that reviewer still exists),
    for My work. In batches by id: on PostgreSQL the server reverses each range of ids
    (``reverse``); SQLite has no ``reverse``, so there each batch is read and written back
    with one UPDATE text (executemany). 200,000 rows take 16 s on PostgreSQL on this
    machine, most of it writing the table's indexes (B2's generated table)."""
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"

    def marks(*numbers: int) -> list[str]:
        return [f"${n}" if postgres else "?" for n in numbers]

    first, second = marks(1, 2)
    if postgres:
        # The same rows, reversed by the server: a range of ids a statement, nothing read
        # back (a million rows in seconds rather than minutes).
        _, top = await client.execute_query("SELECT COALESCE(MAX(id), 0) AS top FROM application")
        for start in range(0, int(top[0]["top"]), BACKFILL_BATCH):
            await client.execute_query(
                "UPDATE application SET phone_reversed = reverse(phone) WHERE id > $1 "
                "AND id <= $2 AND redacted_at IS NULL", [start, start + BACKFILL_BATCH])
    last = 0
    while not postgres:
        _, rows = await client.execute_query(
            "SELECT id, phone FROM application WHERE id > {} AND redacted_at IS NULL "
            "ORDER BY id LIMIT {}".format(marks(1)[0], BACKFILL_BATCH), [last])
        if not rows:
            break
        last = int(rows[-1]["id"])
        await client.execute_many(
            f"UPDATE application SET phone_reversed = {first} WHERE id = {second}",
            [[(row["phone"] or "")[::-1], int(row["id"])] for row in rows])
    _, reviewers = await client.execute_query("SELECT id FROM reviewer")
    known = {int(row["id"]) for row in reviewers}
    last = 0
    while True:
        _, rows = await client.execute_query(
            "SELECT id, info_request FROM application WHERE id > {} AND status = 'needs_info' "
            "AND asked_by_id IS NULL ORDER BY id LIMIT {}".format(marks(1)[0], BACKFILL_BATCH),
            [last])
        if not rows:
            break
        last = int(rows[-1]["id"])
        asked = []
        for row in rows:
            request = row["info_request"]
            if isinstance(request, str):
                request = loads(request)
            asker = (request or {}).get("reviewer_id") if isinstance(request, dict) else None
            if isinstance(asker, int) and asker in known:
                asked.append([asker, int(row["id"])])
        if asked:
            await client.execute_many(
                f"UPDATE application SET asked_by_id = {first} WHERE id = {second}", asked)

class Migration(migrations.Migration):
    dependencies = [('models', '0011_reviewer_security')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ApplicationViewer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('application', fields.ForeignKeyField('models.Application', source_field='application_id', db_constraint=True, to_field='id', related_name='viewers', on_delete=OnDelete.CASCADE)),
                ('reviewer', fields.ForeignKeyField('models.Reviewer', source_field='reviewer_id', db_constraint=True, to_field='id', related_name='viewing', on_delete=OnDelete.CASCADE)),
                ('seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'application_viewer', 'app': 'models', 'unique_together': (('application', 'reviewer'),), 'pk_attr': 'id', 'table_description': "Who has an application open, as of their page's last sign of life: the page says who"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Application',
            name='asked_by',
            field=fields.ForeignKeyField('models.Reviewer', source_field='asked_by_id', null=True, db_constraint=True, to_field='id', related_name='asked', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Application',
            name='phone_reversed',
            field=fields.CharField(default='', db_default='', max_length=20),
        ),
        ops.AddIndex(
            model_name='Application',
            index=Index(fields=['phone_reversed'], name='application_phone_reversed_idx'),
        ),
        ops.AddIndex(
            model_name='Application',
            index=Index(fields=['asked_by_id', 'status'], name='application_asked_by_idx'),
        ),
        ops.AddIndex(
            model_name='Application',
            index=Index(fields=['held_for_id', 'status'], name='application_held_for_idx'),
        ),
        ops.AddField(
            model_name='CannedResponse',
            name='translations',
            field=fields.JSONField(default=dict, db_default='{}', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.RunPython(backfill, ops.RunPython.noop),
    ]
