"""Rollup arithmetic in plain Python, for backends that aggregate client-side.

The semantics every backend implements (the PostgreSQL backend does the same in SQL):

- A 15-minute bucket aggregates the raw readings inside it: count, min, max,
  mean, first and last (by timestamp).
- For counters, `delta` sums the increases between consecutive readings whose
  later reading lies in the bucket; the first reading is compared with the last
  reading before the bucket, so deltas of adjacent buckets add up without gaps.
  A drop below RESET_FRACTION of the previous reading is a meter reset (a meter
  replaced or restarted at 0): that step adds the new reading, counted from 0. A
  smaller drop is a glitch, as Home Assistant's `total_increasing` treats it: it
  adds nothing. Either way counting goes on from the new value.
- Coarser buckets combine the finer rows inside them: counts and deltas add up,
  the mean is weighted by count, first/last come from the earliest/latest row.
- Retention folds the raw readings of a 15-minute bucket into its *purged*
  aggregate (`fold`), whose delta counts only the steps between its own readings.
  The bucket's row is from then on that aggregate merged with whatever raw
  readings arrive later (`aggregate_bucket`), so late data adds to it instead of
  replacing it, and recomputing gives the same row again. A late counter reading
  that falls between the first and last purged readings adds no step of its own:
  the readings it falls between are gone (for a counter that only rises, the
  result is the same).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One bucket's figures; timestamps in UTC microseconds."""

    count: int
    min: float
    max: float
    mean: float
    first: float
    last: float
    first_ts: int
    last_ts: int
    delta: float | None


# Home Assistant's reset rule for `total_increasing` sensors.
RESET_FRACTION = 0.9


def increase(previous: float, current: float) -> float:
    """What a counter step contributes: the rise; after a reset the new value from 0."""
    if current >= previous:
        return current - previous
    if current < RESET_FRACTION * previous:
        return max(current, 0.0)
    return 0.0


def aggregate_readings(
    readings: Sequence[tuple[int, float]], previous: float | None, *, counter: bool
) -> Aggregate | None:
    """Aggregate readings sorted by time; `previous` is the reading before the bucket."""
    if not readings:
        return None
    values = [value for _, value in readings]
    delta: float | None = None
    if counter:
        delta = 0.0
        last = previous
        for value in values:
            if last is not None:
                delta += increase(last, value)
            last = value
    return Aggregate(
        count=len(values),
        min=min(values),
        max=max(values),
        mean=sum(values) / len(values),
        first=values[0],
        last=values[-1],
        first_ts=readings[0][0],
        last_ts=readings[-1][0],
        delta=delta,
    )


def combine(parts: Iterable[Aggregate]) -> Aggregate | None:
    """Aggregate finer buckets into a coarser one; `parts` in any order."""
    ordered = sorted(parts, key=lambda part: part.first_ts)
    if not ordered:
        return None
    count = sum(part.count for part in ordered)
    deltas = [part.delta for part in ordered if part.delta is not None]
    return Aggregate(
        count=count,
        min=min(part.min for part in ordered),
        max=max(part.max for part in ordered),
        mean=sum(part.mean * part.count for part in ordered) / count,
        first=ordered[0].first,
        last=ordered[-1].last,
        first_ts=ordered[0].first_ts,
        last_ts=ordered[-1].last_ts,
        delta=sum(deltas) if deltas else None,
    )


def aggregate_bucket(
    readings: Sequence[tuple[int, float]],
    previous: float | None,
    *,
    counter: bool,
    purged: Aggregate | None = None,
) -> Aggregate | None:
    """A 15-minute bucket's row: its raw readings (sorted by time), merged with the
    aggregate of those retention removed; `previous` is the reading before the bucket."""
    if purged is None:
        return aggregate_readings(readings, previous, counter=counter)
    count = purged.count + len(readings)
    values = [value for _, value in readings]
    first_ts, first = min([(purged.first_ts, purged.first), *readings[:1]])
    last_ts, last = max([(purged.last_ts, purged.last), *readings[-1:]])
    delta: float | None = None
    if counter:
        # The steps through the readings before the purged ones, the purged ones as a
        # block (first value, own steps, last value), and the readings after them.
        delta = purged.delta or 0.0
        step_from = previous
        block_done = False
        for ts, value in readings:
            if purged.first_ts <= ts <= purged.last_ts:
                continue
            if ts > purged.last_ts and not block_done:
                if step_from is not None:
                    delta += increase(step_from, purged.first)
                step_from, block_done = purged.last, True
            if step_from is not None:
                delta += increase(step_from, value)
            step_from = value
        if not block_done and step_from is not None:
            delta += increase(step_from, purged.first)
    return Aggregate(
        count=count,
        min=min([purged.min, *values]),
        max=max([purged.max, *values]),
        mean=(purged.mean * purged.count + sum(values)) / count,
        first=first,
        last=last,
        first_ts=first_ts,
        last_ts=last_ts,
        delta=delta,
    )


def fold(
    readings: Sequence[tuple[int, float]], purged: Aggregate | None, *, counter: bool
) -> Aggregate | None:
    """The purged aggregate after retention removes `readings` too (steps inside only)."""
    return aggregate_bucket(readings, None, counter=counter, purged=purged)
