from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0010_notification_urgent')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Reviewer',
            name='totp_secret',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Reviewer',
            name='totp_pending_secret',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Reviewer',
            name='totp_enabled_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Reviewer',
            name='totp_last_step',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='ReviewerSession',
            name='pending',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='ReviewerSession',
            name='user_agent',
            field=fields.CharField(default='', db_default='', max_length=200),
        ),
        ops.CreateModel(
            name='RecoveryCode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reviewer', fields.ForeignKeyField('models.Reviewer', source_field='reviewer_id', db_constraint=True, to_field='id', related_name='recovery_codes', on_delete=OnDelete.CASCADE)),
                ('code_hash', fields.CharField(max_length=64)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'recovery_code', 'app': 'models', 'indexes': [Index(fields=['reviewer_id', 'code_hash'], name='recovery_code_reviewer_idx')], 'pk_attr': 'id', 'table_description': 'A single-use code for a reviewer without their authenticator: 80 random bits, so'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReviewerLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reviewer', fields.ForeignKeyField('models.Reviewer', source_field='reviewer_id', db_constraint=True, to_field='id', related_name='links', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('purpose', fields.CharField(max_length=16)),
                ('created_by', fields.ForeignKeyField('models.Reviewer', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='links_sent', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'reviewer_link', 'app': 'models', 'pk_attr': 'id', 'table_description': "A link sent by email to set a password (an invitation, or after an admin's reset)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AccountEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('actor', fields.CharField(max_length=64)),
                ('reviewer', fields.ForeignKeyField('models.Reviewer', source_field='reviewer_id', db_constraint=True, to_field='id', related_name='account_events', on_delete=OnDelete.CASCADE)),
                ('type', fields.CharField(max_length=32)),
                ('message', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'account_event', 'app': 'models', 'indexes': [Index(fields=['at', 'id'], name='account_event_at_idx')], 'pk_attr': 'id', 'table_description': 'What happened to a reviewer account and who did it (an admin, the reviewer, the CLI'},
            bases=['Model'],
        ),
    ]
