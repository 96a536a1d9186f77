from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CannedResponse',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(max_length=16)),
                ('action', fields.CharField(max_length=16)),
                ('reason_code', fields.CharField(null=True, max_length=32)),
                ('title', fields.CharField(max_length=128)),
                ('body', fields.TextField(unique=False)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'canned_response', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A starting text for a decision. Reviewers edit it before sending.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReviewerSession',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('reviewer', fields.ForeignKeyField('models.Reviewer', source_field='reviewer_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_seen_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'reviewer_session', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Server-side sessions, so deactivating a reviewer ends every session at once.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RiskFlag',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('application', fields.ForeignKeyField('models.Application', source_field='application_id', db_constraint=True, to_field='id', related_name='flags', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(max_length=32)),
                ('reason', fields.TextField(unique=False)),
                ('related', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'risk_flag', 'app': 'models', 'unique_together': (('application', 'code'),), 'indexes': [Index(fields=['code', 'application_id'], name='risk_flag_code_idx')], 'pk_attr': 'id', 'table_description': 'A warning computed from other applications, with the reason a reviewer reads.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Application',
            name='assignee',
            field=fields.ForeignKeyField('models.Reviewer', source_field='assignee_id', null=True, db_constraint=True, to_field='id', related_name='claimed', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Application',
            name='claimed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Application',
            name='decided_by',
            field=fields.ForeignKeyField('models.Reviewer', source_field='decided_by_id', null=True, db_constraint=True, to_field='id', related_name='decided', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Application',
            name='decision_code',
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AddField(
            model_name='Application',
            name='decision_text',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='Application',
            name='held_for',
            field=fields.ForeignKeyField('models.Reviewer', source_field='held_for_id', null=True, db_constraint=True, to_field='id', related_name='held', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Application',
            name='held_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Application',
            name='info_request',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Application',
            name='info_requested_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Application',
            name='last_activity_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Application',
            name='permission_expires_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='Application',
            index=Index(fields=['assignee_id', 'status'], name='application_assignee_idx'),
        ),
        ops.AddIndex(
            model_name='Document',
            index=Index(fields=['application_id', 'purpose'], name='document_application_idx'),
        ),
        ops.AddField(
            model_name='Reviewer',
            name='countries',
            field=fields.JSONField(default=list, db_default='[]', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Reviewer',
            name='failed_logins',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Reviewer',
            name='kinds',
            field=fields.JSONField(default=list, db_default='[]', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Reviewer',
            name='last_login_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Reviewer',
            name='locked_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
