"""Pure outcome analytics: per-infusion durability, cohort survival, booster planning.

Plain functions over plain data (dataclasses, datetimes, floats), with no Django or ORM
import, so they can be checked by the thousand with hypothesis (docs/house/STYLE.md, "Where things
live"). Selectors load rows and turn them into these dataclasses; nothing here reads the
database.
"""

from outcomes.analytics.booster import BoosterProposal, propose_booster
from outcomes.analytics.durability import (
    InfusionEvent,
    InfusionOutcome,
    Point,
    Thresholds,
    find_baseline,
    improvement_pct,
    infusion_outcomes,
)
from outcomes.analytics.survival import (
    KaplanMeier,
    kaplan_meier,
    numbers_at_risk,
    response_rates,
)

__all__ = [
    "BoosterProposal",
    "InfusionEvent",
    "InfusionOutcome",
    "KaplanMeier",
    "Point",
    "Thresholds",
    "find_baseline",
    "improvement_pct",
    "infusion_outcomes",
    "kaplan_meier",
    "numbers_at_risk",
    "propose_booster",
    "response_rates",
]
