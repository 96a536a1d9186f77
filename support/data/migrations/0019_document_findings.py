from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('models', '0018_document_pages')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Document',
            name='read_at',
            field=fields.DatetimeField(null=True),
        ),
        ops.AddField(
            model_name='Document',
            name='findings',
            field=fields.JSONField(null=True),
        ),
        ops.AddIndex(
            model_name='Document',
            index=Index(fields=['read_at', 'id'], name='document_read_idx'),
        ),
    ]
