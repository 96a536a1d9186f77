"""The applicant's own clock and contacts: their time zone, a permission's use and its
reminder, an email corrected once (its pending address and code held in the verification
row, with what the code proves)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0013_canned_translations')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Application',
            name='email_corrected_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Application',
            name='permission_reminded_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Application',
            name='permission_used_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Application',
            name='time_zone',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddIndex(
            model_name='Application',
            index=Index(fields=['permission_expires_at'], name='application_permission_expiry_idx'),
        ),
        ops.AddField(
            model_name='Verification',
            name='new_email',
            field=fields.CharField(null=True, max_length=254),
        ),
        ops.AddField(
            model_name='Verification',
            name='purpose',
            field=fields.CharField(default='contact', db_default='contact', max_length=16),
        ),
    ]
