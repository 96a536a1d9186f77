from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_retention_indexes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Document',
            name='spooled',
            field=fields.CharField(null=True, max_length=64),
        ),
    ]
