from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_audit_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ReportDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField()),
                ('dimension', fields.CharField(max_length=8)),
                ('key', fields.CharField(max_length=64)),
                ('approved', fields.IntField(default=0)),
                ('rejected', fields.IntField(default=0)),
                ('backlog', fields.IntField(null=True)),
                ('overdue', fields.IntField(null=True)),
                ('computed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'report_day', 'app': 'models', 'unique_together': (('day', 'dimension', 'key'),), 'pk_attr': 'id', 'table_description': 'The figures of one UTC day for the reports page, kept by the worker (reports/rollup.py).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReportDuration',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField()),
                ('kind', fields.CharField(max_length=16)),
                ('bucket', fields.IntField()),
                ('count', fields.IntField()),
                ('min_seconds', fields.BigIntField()),
                ('max_seconds', fields.BigIntField()),
            ],
            options={'table': 'report_duration', 'app': 'models', 'unique_together': (('day', 'kind', 'bucket'),), 'pk_attr': 'id', 'table_description': 'How long the decisions of one UTC day took from confirmation, by kind, as a histogram of'},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='Notification',
            index=Index(fields=['status', 'channel'], name='notification_status_channel_idx'),
        ),
    ]
