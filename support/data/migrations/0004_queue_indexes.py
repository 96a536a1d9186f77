from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_delivery_log')]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name='Application',
            name='application_queue_idx',
            fields=None,
        ),
        ops.AddIndex(
            model_name='Application',
            index=Index(fields=['status', 'priority DESC', 'due_at', 'id'], name='application_queue_idx'),
        ),
        ops.AddIndex(
            model_name='Application',
            index=Index(fields=['decided_at', 'id', 'status', 'kind', 'country'], name='application_decided_idx'),
        ),
        ops.AddIndex(
            model_name='Application',
            index=Index(fields=['status', 'kind', 'country', 'priority DESC', 'due_at', 'id'], name='application_scope_idx'),
        ),
    ]
