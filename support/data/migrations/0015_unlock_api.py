"""The permission made real (issue 22): service keys for the maker's API, each approved
unlock's permission with its single grant, the keys that sign grants, the endpoints told of
events (and the outbox's webhook channel)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from support.data.models import Channel
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0014_applicant_clock')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ApiKey',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('prefix', fields.CharField(max_length=16)),
                ('key_hash', fields.CharField(unique=True, max_length=64)),
                ('scopes', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('created_by', fields.CharField(default='', max_length=64)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_key', 'app': 'models', 'pk_attr': 'id', 'table_description': "A key of one of the maker's services for ``/api/v1``. Only its SHA-256 is kept: the"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Permission',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('application', fields.OneToOneField('models.Application', source_field='application_id', db_constraint=True, to_field='id', related_name='permission', on_delete=OnDelete.CASCADE)),
                ('account_id', fields.CharField(max_length=20)),
                ('model', fields.CharField(max_length=64)),
                ('granted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('redeemed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('device_id', fields.CharField(null=True, max_length=64)),
                ('grant', fields.TextField(null=True, unique=False)),
                ('grant_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_by', fields.CharField(null=True, max_length=64)),
                ('revoked_reason', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'permission', 'app': 'models', 'indexes': [Index(fields=['account_id', 'granted_at'], name='permission_account_idx'), Index(fields=['account_id', 'redeemed_at'], name='permission_redeemed_idx')], 'pk_attr': 'id', 'table_description': 'What an approved unlock grants: one account, one model, until ``expires_at``, to be'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SigningKey',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kid', fields.CharField(unique=True, max_length=64)),
                ('private_jwk', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('public_jwk', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('retired_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'signing_key', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An Ed25519 key the desk signs unlock grants with. The newest unretired one signs, and'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('url', fields.CharField(max_length=500)),
                ('secret', fields.CharField(max_length=128)),
                ('events', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('created_by', fields.CharField(default='', max_length=64)),
                ('disabled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_endpoint', 'app': 'models', 'pk_attr': 'id', 'table_description': "A maker's URL told of events (``events``: names like ``permission.granted``). The"},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Notification',
            name='channel',
            field=fields.CharEnumField(description='EMAIL: email\nSMS: sms\nWEBHOOK: webhook', enum_type=Channel, max_length=8),
        ),
    ]
