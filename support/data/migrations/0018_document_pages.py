from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0017_mail_in')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Document',
            name='page_count',
            field=fields.IntField(null=True),
        ),
    ]
