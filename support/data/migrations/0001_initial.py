from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from support.data.models import Channel, DeliveryStatus, Status
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Application',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reference', fields.CharField(unique=True, max_length=16)),
                ('kind', fields.CharField(max_length=16)),
                ('status', fields.CharEnumField(default=Status.SUBMITTED, description='SUBMITTED: submitted\nQUEUED: queued\nIN_REVIEW: in_review\nNEEDS_INFO: needs_info\nAPPROVED: approved\nREJECTED: rejected\nEXPIRED: expired\nWITHDRAWN: withdrawn', enum_type=Status, max_length=16)),
                ('account_id', fields.CharField(max_length=20)),
                ('country', fields.CharField(max_length=2)),
                ('phone', fields.CharField(max_length=20)),
                ('email', fields.CharField(max_length=254)),
                ('model', fields.CharField(max_length=64)),
                ('firmware', fields.CharField(max_length=64)),
                ('firmware_channel', fields.CharField(max_length=16)),
                ('imei', fields.CharField(null=True, max_length=15)),
                ('reason', fields.TextField(unique=False)),
                ('locale', fields.CharField(default='en', max_length=8)),
                ('priority', fields.IntField(default=0)),
                ('submission_key', fields.CharField(unique=True, max_length=64)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('verified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('appeal_of', fields.ForeignKeyField('models.Application', source_field='appeal_of_id', null=True, db_constraint=True, to_field='id', related_name='appeals', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'application', 'app': 'models', 'indexes': [Index(fields=['status', 'priority', 'due_at'], name='application_queue_idx'), Index(fields=['status', 'created_at'], name='application_status_created_idx'), Index(fields=['phone'], name='application_phone_idx'), Index(fields=['email'], name='application_email_idx'), Index(fields=['imei'], name='application_imei_idx'), Index(fields=['account_id'], name='application_account_idx')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AccessToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('application', fields.ForeignKeyField('models.Application', source_field='application_id', db_constraint=True, to_field='id', related_name='access_tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'access_token', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A private status link. Several may be live (the first, and any sent by a look-up).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Document',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('application', fields.ForeignKeyField('models.Application', source_field='application_id', db_constraint=True, to_field='id', related_name='documents', on_delete=OnDelete.CASCADE)),
                ('purpose', fields.CharField(max_length=16)),
                ('content_type', fields.CharField(max_length=32)),
                ('size', fields.IntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('storage_key', fields.CharField(unique=True, max_length=64)),
                ('original_name', fields.CharField(max_length=255)),
                ('uploaded_by', fields.CharField(default='applicant', max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'document', 'app': 'models', 'indexes': [Index(fields=['sha256'], name='document_sha256_idx')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Event',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('application', fields.ForeignKeyField('models.Application', source_field='application_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('actor', fields.CharField(max_length=64)),
                ('type', fields.CharField(max_length=32)),
                ('from_status', fields.CharField(null=True, max_length=16)),
                ('to_status', fields.CharField(null=True, max_length=16)),
                ('message', fields.TextField(default='', unique=False)),
                ('internal', fields.BooleanField(default=False)),
            ],
            options={'table': 'event', 'app': 'models', 'indexes': [Index(fields=['application_id', 'at'], name='event_application_at_idx')], 'pk_attr': 'id', 'table_description': 'The timeline: one row per change or note, never updated or deleted.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('application', fields.ForeignKeyField('models.Application', source_field='application_id', null=True, db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharEnumField(description='EMAIL: email\nSMS: sms', enum_type=Channel, max_length=8)),
                ('recipient', fields.CharField(max_length=254)),
                ('template', fields.CharField(max_length=64)),
                ('context', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('locale', fields.CharField(default='en', max_length=8)),
                ('status', fields.CharEnumField(default=DeliveryStatus.PENDING, description='PENDING: pending\nSENT: sent\nDEAD: dead', enum_type=DeliveryStatus, max_length=8)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(default='', unique=False)),
                ('idempotency_key', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notification', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at'], name='notification_due_idx')], 'pk_attr': 'id', 'table_description': 'The outbox. Written in the same transaction as the change it announces.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Reviewer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email', fields.CharField(unique=True, max_length=254)),
                ('name', fields.CharField(max_length=128)),
                ('password_hash', fields.CharField(max_length=255)),
                ('role', fields.CharField(default='reviewer', max_length=16)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'reviewer', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Verification',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('application', fields.OneToOneField('models.Application', source_field='application_id', db_constraint=True, to_field='id', related_name='verification', on_delete=OnDelete.CASCADE)),
                ('code_hash', fields.CharField(max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('sends', fields.IntField(default=1)),
                ('last_sent_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'verification', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The current one-time code of an application. Codes are stored only as HMACs.'},
            bases=['Model'],
        ),
    ]
