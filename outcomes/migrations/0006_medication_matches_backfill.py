"""Infusions recorded before the medication table: their medications matched by ingredient,
so an existing benzodiazepine keeps its warning (now naming the ingredient). The table is
versioned (outcomes/visits/medication_table.json); each row records the version it used."""

from django.db import migrations


def backfill(apps, schema_editor):
    from outcomes.visits.medications import TABLE_VERSION, match_medications

    Infusion = apps.get_model("outcomes", "Infusion")
    rows = Infusion.objects.exclude(concomitant_medications=[]).only(
        "id", "concomitant_medications"
    )
    for row in rows.iterator(chunk_size=500):
        found = match_medications(str(m.get("name", "")) for m in row.concomitant_medications)
        Infusion.objects.filter(pk=row.pk).update(
            medication_matches=[
                {"ingredient": m.ingredient, "drug_class": m.drug_class, "matched": m.matched}
                for m in found
            ],
            medication_table_version=TABLE_VERSION,
            benzodiazepine_recorded=any(m.drug_class == "benzodiazepine" for m in found),
        )


class Migration(migrations.Migration):
    dependencies = [("outcomes", "0005_visit")]
    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
