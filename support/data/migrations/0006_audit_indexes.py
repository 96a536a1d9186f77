from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_retention_and_sanitising')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Event',
            index=Index(fields=['at', 'id', 'actor'], name='event_at_idx'),
        ),
        ops.AddIndex(
            model_name='Event',
            index=Index(fields=['actor', 'at', 'id'], name='event_actor_at_idx'),
        ),
    ]
