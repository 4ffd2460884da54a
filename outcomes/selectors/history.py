"""The change history of a clinical record (django-simple-history), as a list of changes.

The caller has already passed the permission-scoped fetch (access_infusion, access_alert);
this only reads that record's own historical rows.
"""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


def _plain(value):
    # Decimals, datetimes and UUIDs as the API writes them elsewhere (strings, ISO 8601).
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def history_entries(*, record: models.Model, hidden: frozenset[str] = frozenset()) -> list[dict]:
    """Newest first: when, what kind of change, by whom (None: the system), and each field's
    old and new value (a creation lists the fields it set)."""
    rows = list(
        # simple-history adds `history` to registered models at runtime: no stub knows it.
        record.history.select_related("history_user").order_by("history_date", "history_id")  # type: ignore[attr-defined]
    )
    fields = [
        f.attname
        for f in type(record).history.model.tracked_fields  # type: ignore[attr-defined]
        if f.attname not in hidden and f.name not in hidden
    ]
    entries = []
    previous = None
    for row in rows:
        if previous is None:
            changes = [
                {"field": f, "old": None, "new": _plain(getattr(row, f))}
                for f in fields
                if getattr(row, f) not in (None, "", [], {})
            ]
        else:
            changes = [
                {"field": f, "old": _plain(getattr(previous, f)), "new": _plain(getattr(row, f))}
                for f in fields
                if getattr(previous, f) != getattr(row, f)
            ]
        user = row.history_user
        entries.append(
            {
                "id": row.history_id,
                "at": row.history_date,
                "action": ACTIONS.get(row.history_type, "changed"),
                "changed_by": user.get_username() if user else None,
                "changes": changes,
            }
        )
        previous = row
    entries.reverse()
    return entries
