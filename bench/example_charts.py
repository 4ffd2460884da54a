"""Render the example charts in docs/images/ from synthetic data (no database).

.venv/bin/python -m bench.example_charts
"""

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from outcomes.analytics.durability import InfusionEvent, Point, Thresholds, infusion_outcomes
from outcomes.analytics.survival import kaplan_meier, numbers_at_risk
from outcomes.charts import km_chart, trajectory_chart

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"
PHQ9 = Thresholds(remission_below=5, mid=5)
BANDS = [
    (0, 4, "minimal"),
    (5, 9, "mild"),
    (10, 14, "moderate"),
    (15, 19, "moderately severe"),
    (20, 27, "severe"),
]
RISK_TIMES = [0, 7, 14, 21, 28, 42, 56]


def trajectory() -> tuple[list[Point], list[InfusionEvent]]:
    t0 = datetime(2026, 9, 1, 14, tzinfo=UTC)
    infusions = [
        InfusionEvent(str(n), t0 + timedelta(days=d), t0 + timedelta(days=d, minutes=40))
        for n, d in enumerate((0, 26))
    ]
    scores = [
        (-1, 21),
        (1, 13),
        (2, 9),
        (7, 7),
        (14, 8),
        (21, 13),
        (24, 16),
        (25, 18),
        (28, 8),
        (33, 6),
        (40, 5),
        (47, 7),
        (54, 9),
    ]
    return [Point(t0 + timedelta(days=d, hours=3), s) for d, s in scores], infusions


def cohort(seed: int, median: float, n: int) -> tuple[list[float], list[bool]]:
    rng = np.random.default_rng(seed)
    events = rng.exponential(median / np.log(2), n)
    censor = rng.uniform(5, 70, n)
    return list(np.minimum(events, censor)), list(events <= censor)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    points, infusions = trajectory()
    outcomes = infusion_outcomes(points, infusions, PHQ9)
    curves, at_risk = {}, {}
    for name, seed, median, n in (("TRD", 1, 18, 160), ("PTSD", 2, 27.5, 90)):
        durations, observed = cohort(seed, median, n)
        curves[name] = kaplan_meier(durations, observed)
        at_risk[name] = numbers_at_risk(durations, RISK_TIMES)
    for fmt in ("png", "svg"):
        (OUT / f"trajectory.{fmt}").write_bytes(
            trajectory_chart(
                title="PHQ-9",
                series=points,
                infusions=infusions,
                outcomes=outcomes,
                thresholds=PHQ9,
                bands=BANDS,
                scale=(0, 27),
                fmt=fmt,
            )
        )
        (OUT / f"durability.{fmt}").write_bytes(
            km_chart(
                title="Sustained response after an infusion (PHQ-9, synthetic cohort)",
                curves=curves,
                at_risk=at_risk,
                risk_times=RISK_TIMES,
                fmt=fmt,
            )
        )
    print(f"wrote {sorted(p.name for p in OUT.iterdir())} to {OUT}")


if __name__ == "__main__":
    random.seed(0)
    main()
