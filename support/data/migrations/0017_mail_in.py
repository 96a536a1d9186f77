from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0016_permission_backfill')]

    initial = False

    operations = [
        ops.CreateModel(
            name='InboundMail',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=255)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('outcome', fields.CharField(max_length=16)),
                ('application', fields.ForeignKeyField('models.Application', source_field='application_id', null=True, db_constraint=True, to_field='id', related_name='mail', on_delete=OnDelete.CASCADE)),
                ('notification', fields.ForeignKeyField('models.Notification', source_field='notification_id', null=True, db_constraint=True, to_field='id', related_name='reports', on_delete=OnDelete.SET_NULL)),
                ('sender', fields.CharField(default='', max_length=254)),
                ('subject', fields.CharField(default='', max_length=500)),
                ('excerpt', fields.TextField(default='', unique=False)),
                ('detail', fields.CharField(default='', max_length=300)),
                ('answered', fields.BooleanField(default=False)),
                ('size', fields.IntField(default=0)),
                ('documents', fields.IntField(default=0)),
            ],
            options={'table': 'inbound_mail', 'app': 'models', 'indexes': [Index(fields=['outcome', 'received_at'], name='inbound_mail_outcome_idx'), Index(fields=['sender', 'received_at'], name='inbound_mail_sender_idx')], 'pk_attr': 'id', 'table_description': "Each message that came in, once: its receipt (``key``: the mailbox's UID, or the"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Event',
            name='via',
            field=fields.CharField(default='', db_default='', max_length=8),
        ),
    ]
