"""Applications approved before permissions were rows of their own (issue 22) get their
``Permission``: the account, the model and the end the applicant was told, granted when
the decision was made. Without it a live permission could be neither checked nor redeemed.
One INSERT … SELECT, on either database: approvals are a small part of the table."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops


async def backfill(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(
        "INSERT INTO permission (application_id, account_id, model, granted_at, expires_at, "
        "redeemed_at) "
        "SELECT a.id, a.account_id, a.model, COALESCE(a.decided_at, a.updated_at), "
        "a.permission_expires_at, a.permission_used_at FROM application a "
        "WHERE a.status = 'approved' AND a.permission_expires_at IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM permission p WHERE p.application_id = a.id)")


class Migration(migrations.Migration):
    dependencies = [('models', '0015_unlock_api')]

    initial = False

    operations = [
        ops.RunPython(backfill, ops.RunPython.noop),
    ]
