from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0009_document_spooled')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Notification',
            name='urgent',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddIndex(
            model_name='Notification',
            index=Index(fields=['status', 'urgent', 'next_attempt_at'], name='notification_urgent_idx'),
        ),
    ]
