"""One table, one row per floor request."""

from django.db import models


class FloorRow(models.Model):
    """What the floor endpoint writes: who, a client-chosen id, when. No foreign key and
    no secondary index, so the insert is as cheap as an insert gets."""

    id = models.BigAutoField(primary_key=True)
    user_id = models.UUIDField()
    client_id = models.UUIDField()
    created_at = models.DateTimeField()

    class Meta:
        db_table = "bench_floor_row"

    def __str__(self) -> str:
        return f"floor row {self.id}"
