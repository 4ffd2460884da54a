"""Each scored instrument as a clinic sees it: its newest definition, with the clinic's own
outcome thresholds over the published defaults."""

from dataclasses import dataclass

from outcomes.models import ClinicOutcomeSettings, InstrumentVersion

from ..analytics.durability import Thresholds
from ..instruments import definition_for

_THRESHOLD_KEYS = ("response_pct", "partial_response_pct", "remission_below", "mid")


@dataclass(frozen=True)
class InstrumentInfo:
    code: str
    title: str
    direction: str
    scale: tuple[float, float]
    bands: list[tuple[float, float, str]]
    thresholds: Thresholds  # the per-infusion engine's, with the clinic's overrides
    recall_hours: int | None = None  # what period an answer covers (0: right now)
    improvement_pct: float | None = None  # the definition's futility floor, if any


def instrument_infos(*, clinic_id, codes=None) -> dict[str, InstrumentInfo]:
    """Each instrument's newest shipped (or clinic-licensed) definition with the clinic's
    own thresholds applied over the defaults. Two queries."""
    rows = InstrumentVersion.objects.filter(is_active=True, clinic__isnull=True) | (
        InstrumentVersion.objects.filter(is_active=True, clinic_id=clinic_id)
    )
    if codes is not None:
        rows = rows.filter(code__in=list(codes))
    overrides = {
        s.instrument_code: s for s in ClinicOutcomeSettings.objects.filter(clinic_id=clinic_id)
    }
    infos: dict[str, InstrumentInfo] = {}
    for row in rows.order_by("loaded_at"):
        defn = definition_for(row)
        if defn.scoring.method == "triage":
            continue  # no score to chart or to measure durability on
        lo, hi = defn.scoring.range
        o = overrides.get(row.code)
        extra = {}
        if o is not None:
            extra = {
                k: getattr(o, k)
                for k in (
                    "response_pct",
                    "partial_response_pct",
                    "remission_below",
                    "mid",
                    "loss_consecutive",
                    "baseline_lookback_days",
                )
                if getattr(o, k) is not None
            }
        infos[row.code] = InstrumentInfo(
            code=row.code,
            title=defn.title,
            direction=defn.direction,
            scale=(lo, hi),
            bands=[(b.min, b.max, b.label) for b in defn.bands],
            recall_hours=defn.recall.hours,
            improvement_pct=defn.thresholds.improvement_pct,
            thresholds=Thresholds.from_definition(
                {
                    k: v
                    for k, v in defn.thresholds.model_dump().items()
                    if k in _THRESHOLD_KEYS and v is not None
                },
                direction=defn.direction,
                scale_max=hi,
                **extra,
            ),
        )
    return infos
