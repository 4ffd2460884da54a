"""Reading many timestamps fast.

Django's timestamptz loader subclasses psycopg's pure-Python one, so every datetime a
query returns is parsed from text in Python: over half the time of reading a long score
history (profiled in docs/BENCHMARKS.md). A float is loaded in C; `EPOCH + timedelta`
turns it back into the same aware UTC datetime, to the microsecond. Other databases (the
embedded SQLite demo) read the datetimes as they are.
"""

from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import F, FloatField
from django.db.models.functions import Cast, Extract

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_seconds(field: str) -> Cast | F:
    """A query expression: the field's instant as seconds since the Unix epoch on
    PostgreSQL, the field itself elsewhere; read the values with `from_epoch`."""
    if connection.vendor != "postgresql":
        return F(field)
    return Cast(Extract(field, "epoch"), FloatField())


def from_epoch(value: float | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return EPOCH + timedelta(seconds=value)
