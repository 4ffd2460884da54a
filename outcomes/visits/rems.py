"""The esketamine (Spravato) REMS Patient Monitoring Form for one session, as data, JSON and PDF.

Pure: no Django, no database. The service layer assembles a `RemsForm` from the infusion's
monitoring session; this module says which of the form's answers are still unknown
(`missing_fields`), serializes it (`form_json`) and draws the nurse's working copy
(`form_pdf`) to check against the manufacturer's form, which must be filed within 7 calendar
days of the session (docs/clinical/INSTRUMENTS.md, "The infusion visit: monitoring").

The PDF uses Bitstream Vera, which ships inside reportlab, so the output is the same on every
machine (a system font such as DejaVu may be absent from a deployment image). Vera covers
Latin-1 and some of Latin Extended-A; a character it cannot draw is printed as "?" and the
PDF says which code points were replaced, rather than leaving an invisible gap in a name.
"""

import io
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import reportlab
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

# The REMS program asks for at least 2 hours of monitoring after each dose.
REMS_MINIMUM_MONITORING_MINUTES = 120

_PHASE_LABELS = {
    "pre_dose": "pre-dose",
    "during": "during",
    "peak": "peak",
    "end": "end",
    "pre_discharge": "pre-discharge",
    "other": "other",
}

# The form's required answers, in the form's order, with the label the PDF prints.
_REQUIRED_LABELS = {
    "dose_mg": "dose",
    "dose_started_at": "dose start time",
    "medications_reviewed": "concomitant medications reviewed",
    "monitoring_started_at": "monitoring start",
    "monitoring_ended_at": "monitoring end",
    "ready_to_leave_at": "ready-to-leave time",
    "vitals_acceptable_before_dosing": "vitals acceptable before dosing",
    "vitals_acceptable_before_discharge": "vitals acceptable before discharge",
    "pulse_oximetry_monitored": "pulse oximetry",
    "sedation_observed": "sedation",
    "dissociation_observed": "dissociation",
    "respiratory_depression": "respiratory depression",
}
# For these a False is as good as unanswered: the form needs them to be done.
_MUST_BE_TRUE = frozenset({"medications_reviewed", "pulse_oximetry_monitored"})


@dataclass(frozen=True)
class RemsReading:
    taken_at: datetime  # aware UTC
    minutes: int | None  # from the dose's start; negative before it
    phase: str  # "pre_dose" | "during" | "peak" | "end" | "pre_discharge" | "other"
    systolic: int | None
    diastolic: int | None
    heart_rate: int | None
    spo2: int | None
    resp_rate: int | None
    alert: str = ""  # e.g. "blood pressure 185/115 at or over 180/110"; "" when none

    def __post_init__(self) -> None:
        _require_aware("taken_at", self.taken_at)


@dataclass(frozen=True)
class RemsAdverseEvent:
    occurred_at: datetime
    term: str
    severity: str  # "mild" | "moderate" | "severe"
    serious: bool
    action_taken: str

    def __post_init__(self) -> None:
        _require_aware("occurred_at", self.occurred_at)


@dataclass(frozen=True)
class RemsForm:
    session_id: str
    clinic_name: str
    patient_name: str
    patient_reference: str
    date_of_birth: date | None
    timezone: str  # IANA zone the times are shown in
    session_date: date  # local
    due_on: date  # session_date + 7 calendar days
    product: str  # e.g. "esketamine"
    dose_mg: Decimal | None
    dose_started_at: datetime | None
    medications_reviewed: bool
    benzodiazepines: tuple[str, ...]  # matched descriptions, e.g. "Ativan: lorazepam (...)"
    sedative_hypnotics: tuple[str, ...]
    psychostimulants: tuple[str, ...]
    maois: tuple[str, ...]
    monitoring_started_at: datetime | None
    monitoring_ended_at: datetime | None
    ready_to_leave_at: datetime | None
    vitals_acceptable_before_dosing: bool | None
    vitals_acceptable_before_discharge: bool | None
    pulse_oximetry_monitored: bool
    sedation_observed: bool | None
    dissociation_observed: bool | None
    respiratory_depression: bool | None
    readings: tuple[RemsReading, ...]
    adverse_events: tuple[RemsAdverseEvent, ...]
    filed_at: datetime | None = None
    filed_by: str = ""

    def __post_init__(self) -> None:
        # A naive time would be read in the server's zone and print at the wrong hour on a
        # regulatory form; an unknown zone would fail only when the PDF is drawn.
        ZoneInfo(self.timezone)
        for name in (
            "dose_started_at",
            "monitoring_started_at",
            "monitoring_ended_at",
            "ready_to_leave_at",
            "filed_at",
        ):
            value = getattr(self, name)
            if value is not None:
                _require_aware(name, value)
        start, end = self.monitoring_started_at, self.monitoring_ended_at
        if start is not None and end is not None and end < start:
            raise ValueError("monitoring_ended_at is before monitoring_started_at")

    @property
    def total_minutes_monitored(self) -> int | None:
        """Whole minutes between monitoring start and end (truncated), None until both are known."""
        start, end = self.monitoring_started_at, self.monitoring_ended_at
        if start is None or end is None:
            return None
        return int((end - start).total_seconds() // 60)

    @property
    def alert_readings(self) -> tuple[RemsReading, ...]:
        return tuple(r for r in self.readings if r.alert)

    @property
    def serious_adverse_events(self) -> tuple[RemsAdverseEvent, ...]:
        return tuple(e for e in self.adverse_events if e.serious)


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")


def missing_fields(form: RemsForm) -> list[str]:
    """The form's required answers still unknown, by field name, in the form's order."""
    missing = []
    for name in _REQUIRED_LABELS:
        value = getattr(form, name)
        if value is None or (name in _MUST_BE_TRUE and value is not True):
            missing.append(name)
    return missing


# --- JSON ------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    return value


def form_json(form: RemsForm) -> dict:
    """Every field of the form, JSON-ready (UTC ISO 8601, Decimal as string), plus the derived
    total minutes, alert readings, serious adverse events, completeness and missing answers."""
    data = _jsonable(form)
    missing = missing_fields(form)
    data["total_minutes_monitored"] = form.total_minutes_monitored
    data["alert_readings"] = _jsonable(form.alert_readings)
    data["serious_adverse_events"] = _jsonable(form.serious_adverse_events)
    data["complete"] = not missing
    data["missing"] = missing
    return data


# --- PDF -------------------------------------------------------------------------------------

_FONT = "RemsVera"
_FONT_BOLD = "RemsVera-Bold"
_FONT_ITALIC = "RemsVera-Italic"
_FONT_BOLD_ITALIC = "RemsVera-BoldItalic"

_INK = colors.HexColor("#1a1a1a")
_MUTED = colors.HexColor("#555555")
_RULE = colors.HexColor("#9a9a9a")
_SHADE = colors.HexColor("#eeeeee")
_ALERT_FILL = colors.HexColor("#fde2e1")
_ALERT_INK = colors.HexColor("#9b1c1c")

_PAGE = LETTER  # a US program's form; the frame (510 pt wide) also fits A4 without scaling
_MARGIN = 18 * mm
_MARGIN_Y = 14 * mm  # top and bottom: room for a usual session's readings on page 1
_FRAME_WIDTH = _PAGE[0] - 2 * _MARGIN
_KEEP_TOGETHER_READINGS = 12


@cache
def _font_charset() -> frozenset[int]:
    """Register the Vera family once per process and return the code points it can draw."""
    folder = Path(reportlab.__file__).parent / "fonts"
    faces = {
        _FONT: "Vera.ttf",
        _FONT_BOLD: "VeraBd.ttf",
        _FONT_ITALIC: "VeraIt.ttf",
        _FONT_BOLD_ITALIC: "VeraBI.ttf",
    }
    charset: set[int] | None = None
    for name, filename in faces.items():
        font = TTFont(name, str(folder / filename))
        pdfmetrics.registerFont(font)
        drawn = set(font.face.charToGlyph)
        charset = drawn if charset is None else charset & drawn
    pdfmetrics.registerFontFamily(
        _FONT, normal=_FONT, bold=_FONT_BOLD, italic=_FONT_ITALIC, boldItalic=_FONT_BOLD_ITALIC
    )
    return frozenset(charset or ())


def _drawable(text: str) -> str:
    charset = _font_charset()
    text = unicodedata.normalize("NFC", text)
    return "".join(c if ord(c) in charset or c == "\n" else "?" for c in text)


def _undrawable(form: RemsForm) -> list[str]:
    """Code points in the form's own text that the font lacks (they print as "?")."""
    charset = _font_charset()
    found = {
        c
        for text in _form_strings(form)
        for c in unicodedata.normalize("NFC", text)
        if ord(c) not in charset and c != "\n"
    }
    return sorted(found)


def _form_strings(form: RemsForm) -> Iterator[str]:
    def walk(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, tuple):
            for item in value:
                yield from walk(item)
        elif is_dataclass(value) and not isinstance(value, type):
            for f in fields(value):
                yield from walk(getattr(value, f.name))

    return walk(form)


def _t(text: str) -> str:
    """Caller text made safe for Paragraph markup and for the font."""
    return escape(_drawable(text))


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle(
        "rems", fontName=_FONT, fontSize=8.5, leading=10.5, textColor=_INK, alignment=TA_LEFT
    )

    def style(name: str, **kw: Any) -> ParagraphStyle:
        return ParagraphStyle(f"rems-{name}", parent=base, **kw)

    return {
        "body": base,
        "title": style("title", fontName=_FONT_BOLD, fontSize=14, leading=17),
        "subtitle": style("subtitle", fontSize=8.5, leading=11, textColor=_MUTED),
        # keepWithNext: a heading never sits alone at the foot of a page.
        "h2": style(
            "h2",
            fontName=_FONT_BOLD,
            fontSize=10.5,
            leading=13,
            spaceBefore=8,
            spaceAfter=3,
            keepWithNext=1,
        ),
        "label": style("label", fontName=_FONT_BOLD, fontSize=8.5, leading=10.5),
        "th": style("th", fontName=_FONT_BOLD, fontSize=8, leading=9.8),
        "small": style("small", fontSize=8, leading=9.8),
        "note": style("note", fontSize=8, leading=10, textColor=_MUTED),
        "footer": style("footer", fontSize=7.5, leading=9.5, textColor=_MUTED),
        "incomplete": style(
            "incomplete", fontName=_FONT_BOLD, fontSize=8.5, leading=10.5, textColor=_ALERT_INK
        ),
    }


class _Render:
    """One PDF's worth of formatting: the zone, the styles, and the helpers that use them."""

    def __init__(self, form: RemsForm) -> None:
        _font_charset()  # registers the fonts the styles name
        self.form = form
        self.zone = ZoneInfo(form.timezone)
        self.s = _styles()

    # times

    def local(self, when: datetime) -> datetime:
        return when.astimezone(self.zone)

    def stamp(self, when: datetime | None) -> str:
        """Date, time and zone abbreviation; the date is left out on the session's own day."""
        if when is None:
            return ""
        here = self.local(when)
        if here.date() == self.form.session_date:
            return here.strftime("%H:%M %Z")
        return here.strftime("%Y-%m-%d %H:%M %Z")

    def clock(self, when: datetime) -> str:
        here = self.local(when)
        if here.date() == self.form.session_date:
            return here.strftime("%H:%M")
        return here.strftime("%m-%d %H:%M")

    def after_dose(self, when: datetime) -> str:
        start = self.form.dose_started_at
        if start is None:
            return ""
        minutes = int((when - start).total_seconds() // 60)
        return f"{minutes} min after dose start"

    # cells

    def p(self, markup: str, style: str = "body") -> Paragraph:
        return Paragraph(markup, self.s[style])

    def answer(self, value: bool | None) -> Paragraph:
        if value is None:
            return self.p(f'<font color="{_ALERT_INK.hexval()}"><b>NOT RECORDED</b></font>')
        return self.p(f"<b>{'Yes' if value else 'No'}</b>")


def _fmt_decimal(value: Decimal) -> str:
    # Fixed-point, never str(): Decimal("1E+2") must print as 100.
    return format(value.normalize(), "f")


def _fmt_int(value: int | None, suffix: str = "") -> str:
    return "\u2014" if value is None else f"{value}{suffix}"


def _fmt_bp(reading: RemsReading) -> str:
    if reading.systolic is None and reading.diastolic is None:
        return "\u2014"
    return f"{_fmt_int(reading.systolic)}/{_fmt_int(reading.diastolic)}"


def _vitals_summary(r: _Render, reading: RemsReading | None, phase: str) -> str:
    if reading is None:
        return f"No {_PHASE_LABELS[phase]} reading recorded."
    parts = [f"BP {_fmt_bp(reading)}"]
    if reading.heart_rate is not None:
        parts.append(f"HR {reading.heart_rate}")
    if reading.spo2 is not None:
        parts.append(f"SpO2 {reading.spo2}%")
    if reading.resp_rate is not None:
        parts.append(f"RR {reading.resp_rate}")
    text = f"{_PHASE_LABELS[phase].capitalize()} reading at {r.clock(reading.taken_at)}: " + (
        ", ".join(parts)
    )
    if reading.alert:
        text += f" (ALERT: {reading.alert})"
    return _t(text)


def _last_in_phase(form: RemsForm, phase: str) -> RemsReading | None:
    chosen = [x for x in _ordered(form.readings) if x.phase == phase]
    return chosen[-1] if chosen else None


def _ordered(readings: Iterable[RemsReading]) -> list[RemsReading]:
    return sorted(readings, key=lambda x: x.taken_at)


def _header(r: _Render) -> list[Flowable]:
    form = r.form
    product = form.product.strip()
    product = product[:1].upper() + product[1:] if product else "REMS"
    if form.filed_at is not None:
        status = f"<b>Filed</b> {_t(r.stamp(form.filed_at))}"
        if form.filed_by:
            status += f" by {_t(form.filed_by)}"
    else:
        status = f'<font color="{_ALERT_INK.hexval()}"><b>Not filed</b></font>'
    dob = form.date_of_birth.isoformat() if form.date_of_birth else "not recorded"
    cells = [
        ("Clinic", _t(form.clinic_name), "Session date", form.session_date.isoformat()),
        ("Patient", f"<b>{_t(form.patient_name)}</b>", "Due by", f"<b>{form.due_on}</b>"),
        ("Patient reference", _t(form.patient_reference), "Status", status),
        ("Date of birth", dob, "Times shown in", _t(form.timezone)),
    ]
    rows = [[r.p(a, "label"), r.p(b), r.p(c, "label"), r.p(d)] for a, b, c, d in cells]
    table = Table(rows, colWidths=[100, 155, 100, 155])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOX", (0, 0), (-1, -1), 0.6, _RULE),
                ("BACKGROUND", (0, 0), (0, -1), _SHADE),
                ("BACKGROUND", (2, 0), (2, -1), _SHADE),
                ("INNERGRID", (0, 0), (-1, -1), 0.3, _RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ]
        )
    )
    return [
        r.p("REMS Patient Monitoring Form: session record", "title"),
        r.p(
            f"{_t(product)} session {_t(form.session_id)}. Prepared from the "
            "clinic's monitoring record to check against, and transcribe into, the "
            "manufacturer's form; file within 7 calendar days of the session.",
            "subtitle",
        ),
        Spacer(1, 5),
        table,
    ]


def _medication_rows(r: _Render) -> list[list[Any]]:
    form = r.form
    groups = [
        ("Taking benzodiazepines?", form.benzodiazepines),
        ("Taking non-benzodiazepine sedative-hypnotics?", form.sedative_hypnotics),
        ("Taking psychostimulants?", form.psychostimulants),
        ("Taking monoamine oxidase inhibitors (MAOIs)?", form.maois),
    ]
    rows: list[list[Any]] = [
        [
            r.p("Concomitant medication list reviewed"),
            r.answer(True if form.medications_reviewed else None),
            r.p("" if form.medications_reviewed else "Answers below are unconfirmed.", "small"),
        ]
    ]
    for label, matched in groups:
        if matched:
            answer = r.answer(True)
            detail = "<br/>".join(_t(m) for m in matched)
        elif form.medications_reviewed:
            answer, detail = r.answer(False), "No match in the medication list."
        else:
            answer, detail = r.answer(None), ""
        rows.append([r.p(label), answer, r.p(detail, "small")])
    return rows


def _dose_rows(r: _Render) -> list[list[Any]]:
    form = r.form
    if form.dose_mg is None:
        dose = r.answer(None)
    else:
        dose = r.p(f"<b>{_fmt_decimal(form.dose_mg)} mg</b>")
    return [
        [r.p("Dose"), dose, r.p(_t(form.product), "small")],
        [r.p("Dose started"), _time_cell(r, form.dose_started_at), r.p("", "small")],
    ]


def _monitoring_rows(r: _Render) -> list[list[Any]]:
    form = r.form
    start, end = form.monitoring_started_at, form.monitoring_ended_at
    total = form.total_minutes_monitored
    if total is None:
        total_cell, total_note = r.answer(None), "Needs both start and end."
    else:
        total_cell = r.p(f"<b>{total}</b>")
        total_note = ""
        if total < REMS_MINIMUM_MONITORING_MINUTES:
            total_note = (
                f"<b>Under the {REMS_MINIMUM_MONITORING_MINUTES}-minute minimum "
                "the REMS requires.</b>"
            )
    ready = form.ready_to_leave_at
    return [
        [r.p("Monitoring started"), _time_cell(r, start), r.p("", "small")],
        [r.p("Monitoring ended"), _time_cell(r, end), r.p("", "small")],
        [r.p("Total minutes monitored"), total_cell, r.p(total_note, "small")],
        [
            r.p("When would the patient have been ready to leave without the 2-hour rule?"),
            _time_cell(r, ready),
            r.p(_t(r.after_dose(ready)) if ready else "", "small"),
        ],
    ]


def _time_cell(r: _Render, when: datetime | None) -> Paragraph:
    return r.answer(None) if when is None else r.p(f"<b>{_t(r.stamp(when))}</b>")


def _clinical_rows(r: _Render) -> list[list[Any]]:
    form = r.form
    pre = _last_in_phase(form, "pre_dose")
    discharge = _last_in_phase(form, "pre_discharge")
    serious = form.serious_adverse_events
    if serious:
        serious_cell = r.answer(True)
        serious_note = "<br/>".join(
            _t(f"{e.term} ({e.severity}) at {r.clock(e.occurred_at)}") for e in serious
        )
    else:
        serious_cell, serious_note = r.answer(False), "None recorded."
    lowest = min(
        (x for x in form.readings if x.spo2 is not None),
        key=lambda x: (x.spo2, x.taken_at),
        default=None,
    )
    oximetry_note = ""
    if lowest is not None:
        oximetry_note = _t(f"Lowest SpO2 {lowest.spo2}% at {r.clock(lowest.taken_at)}")
        if lowest.minutes is not None:
            oximetry_note += f" ({lowest.minutes} min)"
    return [
        [
            r.p("Vital signs acceptable before dosing?"),
            r.answer(form.vitals_acceptable_before_dosing),
            r.p(_vitals_summary(r, pre, "pre_dose"), "small"),
        ],
        [
            r.p("Vital signs acceptable before discharge?"),
            r.answer(form.vitals_acceptable_before_discharge),
            r.p(_vitals_summary(r, discharge, "pre_discharge"), "small"),
        ],
        [r.p("Sedation?"), r.answer(form.sedation_observed), r.p("", "small")],
        [r.p("Dissociation?"), r.answer(form.dissociation_observed), r.p("", "small")],
        [r.p("Respiratory depression?"), r.answer(form.respiratory_depression), r.p("")],
        [r.p("Serious adverse events?"), serious_cell, r.p(serious_note, "small")],
        [
            r.p("Pulse oximetry monitored?"),
            r.answer(True if form.pulse_oximetry_monitored else None),
            r.p(oximetry_note, "small"),
        ],
    ]


def _answers(r: _Render) -> list[Flowable]:
    monitoring, clinical = _monitoring_rows(r), _clinical_rows(r)
    sections = [
        ("1. Concomitant medications", _medication_rows(r)),
        ("2. Dose", _dose_rows(r)),
        ("3. Monitoring", monitoring[:3]),
        ("4. Ready to leave", monitoring[3:]),
        ("5. Vital signs", clinical[:2]),
        ("6. Sedation, dissociation, respiratory depression", clinical[2:5]),
        ("7. Serious adverse events", clinical[5:6]),
        ("8. Pulse oximetry", clinical[6:]),
    ]
    rows: list[list[Any]] = []
    commands: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BOX", (0, 0), (-1, -1), 0.6, _RULE),
        ("LINEBELOW", (0, 0), (-1, -1), 0.3, _RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for title, section_rows in sections:
        commands.append(("SPAN", (0, len(rows)), (-1, len(rows))))
        commands.append(("BACKGROUND", (0, len(rows)), (-1, len(rows)), _SHADE))
        rows.append([r.p(title, "label"), "", ""])
        rows.extend(section_rows)
    table = Table(rows, colWidths=[225, 70, 215])
    table.setStyle(TableStyle(commands))
    return [r.p("Answers, in the form's order", "h2"), table]


def _readings(r: _Render) -> list[Flowable]:
    form = r.form
    readings = _ordered(form.readings)
    alerts = len(form.alert_readings)
    if not readings:
        return [r.p("Vital-sign readings", "h2"), r.p("No readings recorded.")]
    head = ["Time", "Min", "Phase", "BP", "HR", "SpO2", "RR", "Alert"]
    rows: list[list[Any]] = [[r.p(h, "th") for h in head]]
    commands: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (-1, 0), _SHADE),
        ("BOX", (0, 0), (-1, -1), 0.6, _RULE),
        ("INNERGRID", (0, 0), (-1, -1), 0.3, _RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for x in readings:
        alert = f"<b>ALERT: {_t(x.alert)}</b>" if x.alert else ""
        rows.append(
            [
                r.p(r.clock(x.taken_at), "small"),
                r.p(_fmt_int(x.minutes), "small"),
                r.p(_t(_PHASE_LABELS.get(x.phase, x.phase)), "small"),
                r.p(_fmt_bp(x), "small"),
                r.p(_fmt_int(x.heart_rate), "small"),
                r.p(_fmt_int(x.spo2, "%"), "small"),
                r.p(_fmt_int(x.resp_rate), "small"),
                r.p(alert, "small"),
            ]
        )
        if x.alert:
            commands.append(("BACKGROUND", (0, len(rows) - 1), (-1, len(rows) - 1), _ALERT_FILL))
    table = Table(rows, colWidths=[50, 32, 72, 50, 30, 40, 28, 208], repeatRows=1)
    table.setStyle(TableStyle(commands))
    heading = (
        f'Vital-sign readings <font name="{_FONT}" size="8" color="{_MUTED.hexval()}">'
        f"({len(readings)}; {alerts} with an alert, marked ALERT; "
        f"min = minutes from the dose's start)</font>"
    )
    return [r.p(heading, "h2"), table]


def _adverse_events(r: _Render) -> list[Flowable]:
    events = sorted(r.form.adverse_events, key=lambda e: e.occurred_at)
    if not events:
        return [r.p("Adverse events", "h2"), r.p("None recorded.")]
    head = ["Time", "Event", "Severity", "Serious", "Action taken"]
    rows: list[list[Any]] = [[r.p(h, "th") for h in head]]
    for e in events:
        rows.append(
            [
                r.p(r.clock(e.occurred_at), "small"),
                r.p(_t(e.term), "small"),
                r.p(_t(e.severity), "small"),
                r.p("<b>SERIOUS</b>" if e.serious else "No", "small"),
                r.p(_t(e.action_taken), "small"),
            ]
        )
    table = Table(rows, colWidths=[50, 140, 56, 58, 206], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, 0), _SHADE),
                ("BOX", (0, 0), (-1, -1), 0.6, _RULE),
                ("INNERGRID", (0, 0), (-1, -1), 0.3, _RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return [r.p("Adverse events", "h2"), table]


def _footer(r: _Render) -> tuple[list[Paragraph], float]:
    """The paragraphs drawn at the foot of every page, and the height they need."""
    form = r.form
    missing = missing_fields(form)
    lines = []
    if missing:
        labels = ", ".join(_REQUIRED_LABELS[name] for name in missing)
        lines.append(r.p(f"Incomplete: {labels}", "incomplete"))
    ident = f"{form.patient_name} · {form.patient_reference} · session {form.session_date}"
    lines.append(r.p(_t(ident), "footer"))
    height = sum(p.wrap(_FRAME_WIDTH - 40, _PAGE[1])[1] for p in lines)
    return lines, height


def form_pdf(form: RemsForm) -> bytes:
    """The nurse's working copy of the form as a Letter-size PDF, the same bytes every time."""
    r = _Render(form)
    footer, footer_height = _footer(r)
    readings = _readings(r)
    story: list[Flowable] = [*_header(r), *_answers(r)]
    # A short table moves whole to the next page rather than leave its heading behind.
    if len(form.readings) <= _KEEP_TOGETHER_READINGS:
        story.append(KeepTogether(readings))
    else:
        story.extend(readings)
    story.extend(_adverse_events(r))
    odd = _undrawable(form)
    if odd:
        codes = ", ".join(f"U+{ord(c):04X}" for c in odd)
        story += [
            Spacer(1, 6),
            r.p(f"Characters the PDF font cannot draw are printed as ?: {codes}.", "note"),
        ]

    def on_page(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        y = _MARGIN_Y
        for paragraph in reversed(footer):
            _, h = paragraph.wrap(_FRAME_WIDTH - 40, _PAGE[1])
            paragraph.drawOn(canvas, _MARGIN, y)
            y += h
        canvas.setFont(_FONT, 7.5)
        canvas.setFillColor(_MUTED)
        canvas.drawRightString(_PAGE[0] - _MARGIN, _MARGIN_Y + 2, f"Page {doc.page}")
        canvas.setStrokeColor(_RULE)
        canvas.setLineWidth(0.4)
        canvas.line(_MARGIN, y + 2, _PAGE[0] - _MARGIN, y + 2)
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=_PAGE,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN_Y,
        bottomMargin=_MARGIN_Y + footer_height + 8,
        # No patient data in the document's metadata: it is indexed and shown by tools that
        # never open the page.
        title="REMS Patient Monitoring Form: session record",
        subject=form.product,
        author="",
        creator="Afterglow",
        invariant=1,
    )
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()
