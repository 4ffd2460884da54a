"""Check-in answers and scores as CSV, one row per instrument response.

`checkins_csv_rows` streams plain values (one query, `.values_list` with the joins it
needs, iterated in chunks) so a whole clinic cohort never sits in memory as model
instances; `write_checkins_csv` writes them with formula-injection guarding.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TextIO

from django.db.models import QuerySet

CSV_COLUMNS = [
    "patient_id",
    "clinic_reference",
    "check_in_id",
    "answered_at",
    "received_at",
    "instrument",
    "instrument_version",
    "total",
    "band",
    "flags",
    "answers_json",
]

# The lookups behind CSV_COLUMNS, in the same order.
_FIELDS = (
    "patient_id",
    "patient__clinic_reference",
    "check_in_id",
    "answered_at",
    "check_in__received_at",
    "instrument_code",
    "instrument_version__version",
    "total",
    "band",
    "flags",
    "answers",
)

# OWASP "CSV Injection": a cell starting with one of these is read as a formula by
# Excel, LibreOffice and Google Sheets; a leading apostrophe makes it text.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _utc(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _number(value: float | None) -> str:
    if value is None:
        return ""  # a triage instrument (C-SSRS) has no total; its result is the band
    return str(int(value)) if float(value).is_integer() else str(value)


def checkins_csv_rows(responses_qs: QuerySet) -> Iterator[list[str]]:
    """The header, then one row of strings per InstrumentResponse in `responses_qs`,
    ordered by patient, then time. Times are ISO 8601 UTC ("...Z", whole seconds);
    flags are joined with ";"; answers are compact JSON ({linkId: value})."""
    yield list(CSV_COLUMNS)
    rows = responses_qs.order_by("patient_id", "answered_at", "check_in_id", "position")
    for (
        patient_id,
        clinic_reference,
        check_in_id,
        answered_at,
        received_at,
        instrument,
        version,
        total,
        band,
        flags,
        answers,
    ) in rows.values_list(*_FIELDS).iterator(chunk_size=2000):
        yield [
            str(patient_id),
            clinic_reference or "",
            str(check_in_id),
            _utc(answered_at),
            _utc(received_at),
            instrument,
            version,
            _number(total),
            band or "",
            ";".join(flags or []),
            json.dumps(answers, separators=(",", ":"), ensure_ascii=False),
        ]


def neutralise_cell(cell: object) -> str:
    """A cell as text that a spreadsheet will not run as a formula (for callers that
    stream rows with their own writer, e.g. a StreamingHttpResponse)."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def write_checkins_csv(rows: Iterable[Iterable[object]], stream: TextIO) -> None:
    """Write `rows` to a text stream (open it with newline=""), neutralising any cell
    that a spreadsheet would run as a formula."""
    writer = csv.writer(stream)
    for row in rows:
        writer.writerow([neutralise_cell(cell) for cell in row])
