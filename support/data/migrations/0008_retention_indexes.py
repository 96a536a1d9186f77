from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_report_rollups')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='AccessToken',
            index=Index(fields=['application_id'], name='access_token_application_idx'),
        ),
        ops.AddIndex(
            model_name='Application',
            index=Index(fields=['erasure_requested_at', 'redacted_at'], name='application_erasure_idx'),
        ),
        ops.AddIndex(
            model_name='Document',
            index=Index(fields=['sanitised_at', 'id'], name='document_sanitised_idx'),
        ),
        ops.AlterModelOptions(
            name='Event',
            options={'table': 'event', 'app': 'models', 'indexes': [Index(fields=['application_id', 'at'], name='event_application_at_idx'), Index(fields=['at', 'id', 'actor'], name='event_at_idx'), Index(fields=['actor', 'at', 'id'], name='event_actor_at_idx')], 'pk_attr': 'id', 'table_description': 'The timeline: one row per change or note. Rows are never deleted and only the'},
        ),
        ops.AddIndex(
            model_name='Notification',
            index=Index(fields=['application_id'], name='notification_application_idx'),
        ),
    ]
