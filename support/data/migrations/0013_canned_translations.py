"""Canned responses in every applicant language: a desk seeded before translations existed
gets them for each response it never edited (its English text still the seeded one), so a
Hindi applicant's refusal is Hindi from heading to body. Edited responses are left as the
admin wrote them; the admin page shows which languages they lack."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

from support.rules.responses import DEFAULTS, REPLACED


async def add_translations(apps: Any, schema_editor: Any) -> None:
    model = apps.get_model("models.CannedResponse")
    for row in await model.all():
        body = REPLACED.get(row.body, row.body)
        seeded = next((d for d in DEFAULTS if (d["kind"], d["action"], d["reason_code"], d["body"])
                       == (row.kind, row.action, row.reason_code, body)), None)
        if seeded is None:
            continue
        translations = {**seeded["translations"], **(row.translations or {})}
        if (body, translations) != (row.body, row.translations):
            await model.filter(id=row.id).update(body=body, translations=translations)


class Migration(migrations.Migration):
    dependencies = [('models', '0012_busy_desk')]

    initial = False

    operations = [
        ops.RunPython(add_translations, ops.RunPython.noop),
    ]
