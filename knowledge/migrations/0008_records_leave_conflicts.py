from django.db import migrations
from django.db.models import Q

RECORDS_PREFIX = "records/"  # knowledge.access.RECORDS_PREFIX when this was written


def forget_record_conflicts(apps, schema_editor):
    """Conflicts found before records were left out of detection named one person's record beside another's."""
    Conflict = apps.get_model("knowledge", "Conflict")
    Conflict.objects.filter(
        Q(document__source_path__startswith=RECORDS_PREFIX) | Q(other_document__source_path__startswith=RECORDS_PREFIX)
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0007_embedding_models")]
    operations = [migrations.RunPython(forget_record_conflicts, migrations.RunPython.noop)]
