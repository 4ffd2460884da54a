"""Server-rendered charts (matplotlib, Agg): a patient's trajectory and the clinic's
Kaplan-Meier curve, as PNG or SVG bytes.

Figures are built with matplotlib.figure.Figure, never pyplot: no global state, so it is
safe in a threaded or multi-worker server.
"""

import bisect
from collections.abc import Sequence
from datetime import UTC, datetime
from io import BytesIO

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .analytics.durability import InfusionEvent, InfusionOutcome, Point, Thresholds
from .analytics.interval import IntervalSurvival
from .analytics.survival import KaplanMeier

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
_BAND_COLOURS = ["#e8f5e9", "#fffde7", "#fff3e0", "#fbe9e7", "#ffebee"]


def _render(fig: Figure, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}")
    FigureCanvasAgg(fig)
    out = BytesIO()
    fig.savefig(out, format=fmt, dpi=110, bbox_inches="tight", metadata=_metadata(fmt))
    return out.getvalue()


def _metadata(fmt: str) -> dict:
    # Reproducible files: no creation date in the output.
    return {"Date": None} if fmt == "svg" else {"Software": "Afterglow"}


def _days(at: datetime, origin: datetime) -> float:
    return (at - origin).total_seconds() / 86400


def trajectory_chart(
    *,
    title: str,
    series: Sequence[Point],
    infusions: Sequence[InfusionEvent],
    outcomes: Sequence[InfusionOutcome],
    thresholds: Thresholds,
    bands: Sequence[tuple[float, float, str]] = (),
    scale: tuple[float, float] = (0, 27),
    fmt: str = "png",
) -> bytes:
    """Scores over days since the first infusion shown, with infusion markers, each
    infusion's baseline, response and remission lines, and its durability span shaded."""
    fig = Figure(figsize=(9, 4.8))
    ax = fig.add_subplot()
    points = sorted(series, key=lambda p: p.at)
    events = sorted(infusions, key=lambda i: i.started_at)
    origin = events[0].ended_at if events else (points[0].at if points else datetime.now(UTC))
    lo, hi = scale
    for i, (b_lo, b_hi, label) in enumerate(bands):
        ax.axhspan(
            b_lo - 0.5, b_hi + 0.5, color=_BAND_COLOURS[i % len(_BAND_COLOURS)], alpha=0.6, zorder=0
        )
        ax.text(
            1.01,
            (b_lo + b_hi) / 2,
            label,
            transform=ax.get_yaxis_transform(),
            fontsize=7,
            va="center",
            color="#555555",
        )
    by_id = {o.infusion_id: o for o in outcomes}
    for n, inf in enumerate(events, start=1):
        x = _days(inf.ended_at, origin)
        ax.axvline(x, color="#6a1b9a", lw=1.2, ls="-", zorder=2)
        ax.text(x, hi, f" infusion {n}", color="#6a1b9a", fontsize=8, va="bottom", rotation=0)
        o = by_id.get(inf.id)
        if o is None or o.baseline is None:
            continue
        end_x = (
            _days(events[n].started_at, origin)
            if n < len(events)
            else (_days(points[-1].at, origin) if points else x + 28)
        )
        ax.hlines(
            o.baseline,
            x,
            end_x,
            colors="#37474f",
            linestyles="--",
            lw=1,
            label="baseline" if n == 1 else None,
        )
        if thresholds.direction == "lower_is_better":
            response_level = o.baseline * (1 - thresholds.response_pct / 100)
            ax.hlines(
                response_level,
                x,
                end_x,
                colors="#2e7d32",
                linestyles=":",
                lw=1.2,
                label=f"response (-{thresholds.response_pct:g}%)" if n == 1 else None,
            )
        if o.durability_days:
            ax.axvspan(
                x,
                x + o.durability_days,
                color="#66bb6a",
                alpha=0.18,
                zorder=1,
                label="sustained response" if n == 1 else None,
            )
    if thresholds.remission_below is not None:
        ax.axhline(
            thresholds.remission_below,
            color="#1565c0",
            ls="-.",
            lw=1,
            label=f"remission (< {thresholds.remission_below:g})",
        )
    if points:
        ax.plot(
            [_days(p.at, origin) for p in points],
            [p.score for p in points],
            marker="o",
            ms=4,
            color="#212121",
            lw=1.4,
            zorder=3,
            label="score",
        )
    ax.set_ylim(lo - 0.5, hi + 0.5)
    ax.set_xlabel("Days since infusion" if len(events) <= 1 else "Days since first infusion")
    ax.set_ylabel(
        f"{title} score"
        + (
            " (higher is better)"
            if thresholds.direction == "higher_is_better"
            else " (lower is better)"
        )
    )
    ax.set_title(title)
    ax.grid(True, axis="x", color="#eeeeee")
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.14), ncol=4, fontsize=8, frameon=False)
    return _render(fig, fmt)


def km_chart(
    *,
    title: str,
    curves: dict[str, KaplanMeier],
    at_risk: dict[str, Sequence[int]],
    risk_times: Sequence[float] = (0, 7, 14, 21, 28, 42, 56),
    fmt: str = "png",
) -> bytes:
    """Kaplan-Meier "probability of sustained response" by days since infusion, with its
    confidence band, the median, and numbers at risk under the axis."""
    fig = Figure(figsize=(9, 5.6))
    ax = fig.add_axes((0.1, 0.34, 0.85, 0.58))
    colours = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00"]
    for (name, km), colour in zip(curves.items(), colours * 4, strict=False):
        if not km.times:
            continue
        label = (
            f"{name} (n={km.n}, median {km.median:.0f} d)" if km.median else f"{name} (n={km.n})"
        )
        ax.step(km.times, km.survival, where="post", color=colour, lw=1.8, label=label)
        ax.fill_between(
            km.times, km.ci_low, km.ci_high, step="post", color=colour, alpha=0.15, lw=0
        )
    ax.axhline(0.5, color="#9e9e9e", ls=":", lw=1)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0, right=max(risk_times))
    ax.set_xlabel("Days since infusion")
    ax.set_ylabel("Probability of sustained response")
    ax.set_title(title)
    ax.grid(True, color="#eeeeee")
    if any(km.times for km in curves.values()):
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    else:
        ax.text(
            0.5,
            0.5,
            "No responders with follow-up yet",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#616161",
        )
    table = fig.add_axes((0.1, 0.04, 0.85, 0.16))
    table.set_axis_off()
    table.set_xlim(ax.get_xlim())
    table.set_ylim(0, len(curves) + 1)
    table.text(0, len(curves) + 0.4, "Number at risk", fontsize=8, weight="bold")
    for row, name in enumerate(curves):
        y = len(curves) - row - 0.3
        for t, c in zip(risk_times, at_risk[name], strict=True):
            table.text(t, y, str(c), fontsize=8, ha="center")
        table.text(-0.035 * max(risk_times), y, name, fontsize=8, ha="right")
    return _render(fig, fmt)


def durability_chart(
    *,
    title: str,
    curves: dict[str, IntervalSurvival | None],
    note: str = "",
    risk_times: Sequence[float] = (0, 7, 14, 21, 28, 42, 56),
    fmt: str = "png",
) -> bytes:
    """Probability of sustained response by days since the course's last infusion: the
    interval-censored (Turnbull) estimate, linear between assessment times, with its
    bootstrap band and numbers still known to respond under the axis. `note` says what
    the curve is built from, or why there is none."""
    fig = Figure(figsize=(9, 5.6))
    ax = fig.add_axes((0.1, 0.34, 0.85, 0.58))
    colours = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00"]
    drawn = False
    for (name, curve), colour in zip(curves.items(), colours * 4, strict=False):
        if curve is None or not curve.grid:
            continue
        drawn = True
        median = f", median {curve.median:.0f} d" if curve.median is not None else ""
        ax.plot(
            curve.grid, curve.survival, color=colour, lw=1.8, label=f"{name} (n={curve.n}{median})"
        )
        if curve.ci_low is not None and curve.ci_high is not None:
            ax.fill_between(curve.grid, curve.ci_low, curve.ci_high, color=colour, alpha=0.15, lw=0)
    ax.axhline(0.5, color="#9e9e9e", ls=":", lw=1)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0, right=max(risk_times))
    ax.set_xlabel("Days since the course's last infusion")
    ax.set_ylabel("Probability of sustained response")
    ax.set_title(title)
    ax.grid(True, color="#eeeeee")
    if drawn:
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    if note or not drawn:
        ax.text(
            0.5,
            0.08 if drawn else 0.5,
            note or "No responders with follow-up yet",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#616161",
            fontsize=8,
            wrap=True,
        )
    table = fig.add_axes((0.1, 0.04, 0.85, 0.16))
    table.set_axis_off()
    table.set_xlim(ax.get_xlim())
    table.set_ylim(0, len(curves) + 1)
    table.text(0, len(curves) + 0.4, "Known to respond", fontsize=8, weight="bold")
    for row, (name, curve) in enumerate(curves.items()):
        y = len(curves) - row - 0.3
        for t in risk_times:
            count = "-" if curve is None else str(_known_responding(curve, t))
            table.text(t, y, count, fontsize=8, ha="center")
        table.text(-0.035 * max(risk_times), y, name, fontsize=8, ha="right")
    return _render(fig, fmt)


def _known_responding(curve: IntervalSurvival, t: float) -> int:
    """Courses still known to respond at day t: the count at the last grid day <= t (0
    past the grid, which runs to the latest bound)."""
    i = bisect.bisect_right(curve.grid, t) - 1
    if i < 0:
        return curve.n
    return curve.at_risk[i] if t <= curve.grid[-1] else 0
