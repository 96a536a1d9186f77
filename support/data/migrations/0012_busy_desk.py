from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0011_reviewer_security')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ApplicationViewer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('application', fields.ForeignKeyField('models.Application', source_field='application_id', db_constraint=True, to_field='id', related_name='viewers', on_delete=OnDelete.CASCADE)),
                ('reviewer', fields.ForeignKeyField('models.Reviewer', source_field='reviewer_id', db_constraint=True, to_field='id', related_name='viewing', on_delete=OnDelete.CASCADE)),
                ('seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'application_viewer', 'app': 'models', 'unique_together': (('application', 'reviewer'),), 'pk_attr': 'id', 'table_description': "Who has an application open, as of their page's last sign of life: the page says who"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Application',
            name='asked_by',
            field=fields.ForeignKeyField('models.Reviewer', source_field='asked_by_id', null=True, db_constraint=True, to_field='id', related_name='asked', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Application',
            name='phone_reversed',
            field=fields.CharField(default='', db_default='', max_length=20),
        ),
        ops.AddIndex(
            model_name='Application',
            index=Index(fields=['phone_reversed'], name='application_phone_reversed_idx'),
        ),
        ops.AddIndex(
            model_name='Application',
            index=Index(fields=['asked_by_id', 'status'], name='application_asked_by_idx'),
        ),
        ops.AddIndex(
            model_name='Application',
            index=Index(fields=['held_for_id', 'status'], name='application_held_for_idx'),
        ),
        ops.AddField(
            model_name='CannedResponse',
            name='translations',
            field=fields.JSONField(default=dict, db_default='{}', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
