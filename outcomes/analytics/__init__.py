"""Pure outcome analytics: per-course outcomes (courses.py), interval-censored cohort
durability (interval.py), booster planning (booster.py), and the older per-infusion
engine and right-censored Kaplan-Meier (durability.py, survival.py).

Plain functions over plain data (dataclasses, datetimes, floats), with no Django or ORM
import, so they can be checked by the thousand with hypothesis (docs/house/STYLE.md,
"Where things live"). Selectors load rows and turn them into these dataclasses; nothing
here reads the database. Import the modules themselves: this package imports nothing, so
that a caller of one module does not pay for scipy in another.
"""
