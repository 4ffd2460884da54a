"""Change history of clinical records (django-simple-history).

simple-history writes a row on save(), create() and delete(); the services' conditional
UPDATEs (whose row count decides who won a race) and bulk writes bypass those hooks, so
they call `history_record_change` after winning, with the row as stored. Who changed it is
the request's user (HistoryRequestMiddleware) unless given; outside a request (a task), the
system (None).
"""

from django.db import models


def history_record_change(*, record: models.Model, user=None) -> None:
    type(record).history.bulk_history_create([record], update=True, default_user=user)
