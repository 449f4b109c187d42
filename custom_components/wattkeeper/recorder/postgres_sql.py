"""The SQL of the PostgreSQL backend.

Readings are copied straight into `samples` (postgres_copy.py); a batch that
repeats stored readings goes through a per-connection temporary staging table
instead, as (outbox series ref, UTC microseconds, value), where `wk_map` turns refs
into series ids. Microseconds
become timestamptz exactly by adding them as an interval to the epoch.
The rollup semantics are those documented in rollup_math.py.
"""

from __future__ import annotations

from .records import RollupPeriod
from .rollup_math import RESET_FRACTION
from .rollup_plan import PURGED_TABLE, ROLLUP_TABLES


def ts_of(us: str) -> str:
    """SQL for the timestamptz of an int8 microseconds expression.

    Exact while the microseconds fit a double (until the year 2255), and independent
    of the session time zone because the interval has no day or month part."""
    return f"(TIMESTAMPTZ 'epoch' + ({us}) * INTERVAL '1 microsecond')"


def increase(previous: str, current: str) -> str:
    """SQL for rollup_math.increase of two float8 expressions (NULL when one is NULL)."""
    return (
        f"CASE WHEN {current} >= {previous} THEN {current} - {previous} "
        f"WHEN {current} < {RESET_FRACTION} * {previous} THEN greatest({current}, 0) "
        f"WHEN {current} IS NOT NULL AND {previous} IS NOT NULL THEN 0 END"
    )


def us_of(ts: str) -> str:
    """SQL for the int8 microseconds of a timestamptz expression (exact)."""
    return f"(extract(epoch FROM {ts}) * 1000000)::int8"


QUARTER = ROLLUP_TABLES[RollupPeriod.QUARTER_HOUR]
_VALID = "value > '-Infinity'::float8 AND value < 'Infinity'::float8"  # NaN sorts above Infinity

CREATE_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS wk_stage (series int4, ts int8, value float8) "
    "ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS wk_map "
    "(ref int4 PRIMARY KEY, series int4 NOT NULL, counter bool NOT NULL) ON COMMIT DELETE ROWS",
)

UPSERT_SERIES = """
INSERT INTO series (site, device, quantity, unit, entity_id, meter_kind, is_counter)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (site, device, quantity) DO UPDATE SET unit = excluded.unit,
    entity_id = excluded.entity_id, meter_kind = excluded.meter_kind,
    is_counter = excluded.is_counter
RETURNING id"""

FILL_MAP = "INSERT INTO wk_map SELECT * FROM unnest($1::int4[], $2::int4[], $3::bool[])"

_STAGED_SAMPLES = f"""
INSERT INTO samples (series, ts, value)
SELECT m.series, {ts_of("s.ts")}, s.value
FROM wk_stage s JOIN wk_map m ON m.ref = s.series
WHERE {_VALID.replace("value", "s.value")}"""  # noqa: S608

# The idempotent insert, for batches that repeat stored readings (see postgres_backend).
INSERT_SAMPLES = _STAGED_SAMPLES + "\nON CONFLICT DO NOTHING"


# Every query of series names the backend's site ($n; NULL for every site), so
# households sharing a database never act on each other's data.
def of_site(param: str, alias: str = "") -> str:
    column = f"{alias}.site" if alias else "site"
    return f"({param}::text IS NULL OR {column} = {param}::text)"


# (series, 15-minute bucket start in µs, counter?) of the readings stored in a time range,
# of the series of site $3.
TOUCHED_IN_RANGE = f"""
SELECT s.series, {us_of("date_bin('15 minutes', s.ts, TIMESTAMPTZ 'epoch')")} AS bucket,
    se.is_counter
FROM samples s JOIN series se ON se.id = s.series
WHERE s.ts >= {ts_of("$1::int8")} AND s.ts < {ts_of("$2::int8")} AND {of_site("$3", "se")}
GROUP BY 1, 2, 3"""  # noqa: S608

# For counters: the next bucket holding readings (raw, or purged by retention) after
# each touched bucket, whose delta starts from the touched bucket's last reading.
NEXT_BUCKETS = f"""
SELECT t.series, least(
    {us_of("date_bin('15 minutes', n.ts, TIMESTAMPTZ 'epoch')")}, {us_of("p.bucket")})
FROM unnest($1::int4[], $2::int8[]) AS t(series, bucket)
LEFT JOIN LATERAL (
    SELECT s.ts FROM samples s
    WHERE s.series = t.series AND s.ts >= {ts_of("t.bucket + 900000000")}
    ORDER BY s.ts LIMIT 1
) n ON true
LEFT JOIN LATERAL (
    SELECT bucket FROM {PURGED_TABLE}
    WHERE series = t.series AND bucket > {ts_of("t.bucket")} ORDER BY bucket LIMIT 1
) p ON true
WHERE n.ts IS NOT NULL OR p.bucket IS NOT NULL"""  # noqa: S608

# The purged aggregates (rollup_math.fold) of the given (series, bucket µs) pairs.
PURGED_OF = f"""
SELECT p.series, {us_of("p.bucket")}, p.count, p.min, p.max, p.mean, p.first, p.last,
    {us_of("p.first_ts")}, {us_of("p.last_ts")}, p.delta
FROM unnest($1::int4[], $2::int8[]) AS t(series, bucket)
JOIN {PURGED_TABLE} p ON p.series = t.series AND p.bucket = {ts_of("t.bucket")}"""  # noqa: S608

# The raw readings of one 15-minute bucket ($1 series, $2 start in µs), oldest first.
BUCKET_READINGS = f"""
SELECT {us_of("ts")}, value FROM samples
WHERE series = $1 AND ts >= {ts_of("$2::int8")} AND ts < {ts_of("$2::int8 + 900000000")}
ORDER BY ts"""  # noqa: S608

# The reading before a bucket ($1 series, $2 start in µs): raw, or an older rollup's last.
PREVIOUS_VALUE = f"""
SELECT y.value FROM (
    (SELECT ts, value FROM samples
     WHERE series = $1 AND ts < {ts_of("$2::int8")} ORDER BY ts DESC LIMIT 1)
    UNION ALL
    (SELECT last_ts, last FROM {QUARTER}
     WHERE series = $1 AND bucket < {ts_of("$2::int8")} ORDER BY bucket DESC LIMIT 1)
) y ORDER BY y.ts DESC LIMIT 1"""  # noqa: S608

DELETE_BUCKET = f"""
DELETE FROM samples
WHERE series = $1 AND ts >= {ts_of("$2::int8")} AND ts < {ts_of("$2::int8 + 900000000")}"""  # noqa: S608


def upsert_aggregate(table: str) -> str:
    """Store one Aggregate ($3…$11, times in µs) as the row of ($1 series, $2 bucket µs)."""
    return f"""
INSERT INTO {table} (series, bucket, {_ROLLUP_COLUMNS})
VALUES ($1, {ts_of("$2::int8")}, $3, $4, $5, $6, $7, $8, {ts_of("$9::int8")},
    {ts_of("$10::int8")}, $11)
ON CONFLICT (series, bucket) DO UPDATE SET {_ROLLUP_UPDATE}"""  # noqa: S608


_ROLLUP_COLUMNS = "count, min, max, mean, first, last, first_ts, last_ts, delta"
_ROLLUP_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in _ROLLUP_COLUMNS.split(", "))

# Recompute 15-minute buckets from raw readings. Buckets without raw readings
# (deleted by retention) produce no row and keep their rollup. Every part is an
# index range scan or probe per bucket, already in time order: no sorting. The
# reading before a bucket comes from raw data, or from an older rollup's last value.
_IN_BUCKET = "series = t.series AND ts >= t.bucket AND ts < t.bucket + INTERVAL '15 minutes'"
REFRESH_QUARTERS = f"""
WITH t AS (
    SELECT x.series, {ts_of("x.bucket")} AS bucket, x.counter
    FROM unnest($1::int4[], $2::int8[], $3::bool[]) AS x(series, bucket, counter)
)
INSERT INTO {QUARTER} (series, bucket, {_ROLLUP_COLUMNS})
SELECT t.series, t.bucket, a.count, a.min, a.max, a.mean, f.value, l.value, a.first_ts,
    a.last_ts,
    CASE WHEN t.counter THEN d.steps + coalesce({increase("b.value", "f.value")}, 0) END
FROM t
CROSS JOIN LATERAL (
    SELECT count(*) AS count, min(value) AS min, max(value) AS max, avg(value) AS mean,
        min(ts) AS first_ts, max(ts) AS last_ts
    FROM samples WHERE {_IN_BUCKET}
) a
-- LIMIT keeps these two as probes (flattened, they become scans of the whole series).
CROSS JOIN LATERAL (
    SELECT value FROM samples WHERE series = t.series AND ts = a.first_ts LIMIT 1
) f
CROSS JOIN LATERAL (
    SELECT value FROM samples WHERE series = t.series AND ts = a.last_ts LIMIT 1
) l
LEFT JOIN LATERAL (
    SELECT coalesce(sum({increase("s.prev", "s.value")}), 0) AS steps FROM (
        SELECT value, lag(value) OVER (ORDER BY ts) AS prev
        FROM samples WHERE {_IN_BUCKET} AND t.counter
    ) s
) d ON true
LEFT JOIN LATERAL (
    SELECT y.value FROM (
        (SELECT ts, value FROM samples
         WHERE series = t.series AND ts < t.bucket AND t.counter ORDER BY ts DESC LIMIT 1)
        UNION ALL
        (SELECT last_ts, last FROM {QUARTER}
         WHERE series = t.series AND bucket < t.bucket AND t.counter
         ORDER BY bucket DESC LIMIT 1)
    ) y ORDER BY y.ts DESC LIMIT 1
) b ON true
WHERE a.count > 0
ON CONFLICT (series, bucket) DO UPDATE SET {_ROLLUP_UPDATE}"""  # noqa: S608


def refresh_coarse(period: RollupPeriod, source: RollupPeriod) -> str:
    """Recompute buckets of `period` (given as series, start µs, end µs) from `source` rows."""
    # LATERAL: one index range scan per bucket, whatever the table statistics say.
    return f"""
INSERT INTO {ROLLUP_TABLES[period]} (series, bucket, {_ROLLUP_COLUMNS})
SELECT x.series, x.start, a.*
FROM (
    SELECT series, {ts_of("start")} AS start, {ts_of("stop")} AS stop
    FROM unnest($1::int4[], $2::int8[], $3::int8[]) AS u(series, start, stop)
) x CROSS JOIN LATERAL (
    SELECT sum(r.count) AS count, min(r.min), max(r.max), sum(r.mean * r.count) / sum(r.count),
        (array_agg(r.first ORDER BY r.bucket))[1],
        (array_agg(r.last ORDER BY r.bucket DESC))[1],
        min(r.first_ts), max(r.last_ts), sum(r.delta)
    FROM {ROLLUP_TABLES[source]} r
    WHERE r.series = x.series AND r.bucket >= x.start AND r.bucket < x.stop
) a
WHERE a.count IS NOT NULL
ON CONFLICT (series, bucket) DO UPDATE SET {_ROLLUP_UPDATE}"""  # noqa: S608


UPSERT_STATISTICS = """
INSERT INTO ha_statistics (site, statistic_id, period, start, mean, min, max, state, sum, unit,
    source)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::float8[],
    $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::text[], $11::text[])
ON CONFLICT (site, statistic_id, period, start) DO UPDATE SET mean = excluded.mean,
    min = excluded.min, max = excluded.max, state = excluded.state, sum = excluded.sum,
    unit = excluded.unit, source = excluded.source"""

UPSERT_STATISTICS_META = """
INSERT INTO ha_statistics_meta AS m (site, statistic_id, unit, source, has_mean, has_sum)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bool[])
ON CONFLICT (site, statistic_id) DO UPDATE SET unit = excluded.unit, source = excluded.source,
    has_mean = m.has_mean OR excluded.has_mean, has_sum = m.has_sum OR excluded.has_sum"""

HEARTBEAT = """
INSERT INTO sites (site, last_seen, version, backlog, time_zone) VALUES ($1, now(), $2, $3, $4)
ON CONFLICT (site) DO UPDATE SET last_seen = excluded.last_seen, version = excluded.version,
    backlog = excluded.backlog, time_zone = excluded.time_zone"""

OLDEST_RAW = f"""
SELECT min(o.ts) FROM series se
CROSS JOIN LATERAL (SELECT min(ts) AS ts FROM samples WHERE series = se.id) o
WHERE {of_site("$1", "se")}"""  # noqa: S608

# First and last raw reading in [$1, $2) of site $3, through the primary key of each series.
RAW_EXTENT = f"""
SELECT {us_of("min(lo.ts)")}, {us_of("max(hi.ts)")} FROM series se
CROSS JOIN LATERAL (SELECT min(ts) AS ts FROM samples
    WHERE series = se.id AND ts >= {ts_of("$1::int8")} AND ts < {ts_of("$2::int8")}) lo
CROSS JOIN LATERAL (SELECT max(ts) AS ts FROM samples
    WHERE series = se.id AND ts >= {ts_of("$1::int8")} AND ts < {ts_of("$2::int8")}) hi
WHERE {of_site("$3", "se")}"""  # noqa: S608

# The raw readings in [$1, $2) of site $3, counted per 15-minute bucket.
_RAW_BUCKETS = f"""raw AS (
    SELECT series, date_bin('15 minutes', ts, TIMESTAMPTZ 'epoch') AS bucket, count(*) AS n
    FROM samples WHERE ts >= $1 AND ts < $2
        AND series IN (SELECT id FROM series WHERE {of_site("$3")})
    GROUP BY 1, 2
)"""  # noqa: S608

# Purge raw readings in [$1, $2) of site $3 in buckets that retention never purged
# before and whose 15-minute rollup counts them all: fold them into the bucket's purged
# aggregate (rollup_math.fold: the delta counts only the steps inside), then delete them.
RETENTION = f"""
WITH {_RAW_BUCKETS}, doomed AS (
    SELECT raw.series, raw.bucket, se.is_counter FROM raw
    JOIN {QUARTER} r ON r.series = raw.series AND r.bucket = raw.bucket AND r.count = raw.n
    JOIN series se ON se.id = raw.series
    WHERE NOT EXISTS (
        SELECT 1 FROM {PURGED_TABLE} p WHERE p.series = raw.series AND p.bucket = raw.bucket)
), folded AS (
    INSERT INTO {PURGED_TABLE} (series, bucket, {_ROLLUP_COLUMNS})
    SELECT d.series, d.bucket, a.count, a.min, a.max, a.mean, a.first, a.last, a.first_ts,
        a.last_ts, CASE WHEN d.is_counter THEN a.steps END
    FROM doomed d CROSS JOIN LATERAL (
        SELECT count(*) AS count, min(x.value) AS min, max(x.value) AS max,
            avg(x.value) AS mean, (array_agg(x.value ORDER BY x.ts))[1] AS first,
            (array_agg(x.value ORDER BY x.ts DESC))[1] AS last, min(x.ts) AS first_ts,
            max(x.ts) AS last_ts, coalesce(sum({increase("x.prev", "x.value")}), 0) AS steps
        FROM (
            SELECT ts, value, lag(value) OVER (ORDER BY ts) AS prev FROM samples
            WHERE series = d.series AND ts >= d.bucket
                AND ts < d.bucket + INTERVAL '15 minutes'
        ) x
    ) a
)
DELETE FROM samples
WHERE ts >= $1 AND ts < $2 AND (series, date_bin('15 minutes', ts, TIMESTAMPTZ 'epoch')) IN (
    SELECT series, bucket FROM doomed)"""  # noqa: S608

# Buckets in [$1, $2) of site $3 purged before that hold late readings, all rolled up:
# (series, bucket µs, counter?), folded one by one in Python.
RETENTION_LATE = f"""
WITH {_RAW_BUCKETS}
SELECT raw.series, {us_of("raw.bucket")}, se.is_counter FROM raw
JOIN {PURGED_TABLE} p ON p.series = raw.series AND p.bucket = raw.bucket
JOIN {QUARTER} r ON r.series = raw.series AND r.bucket = raw.bucket AND r.count = raw.n + p.count
JOIN series se ON se.id = raw.series"""  # noqa: S608

SERIES_ID = "SELECT id FROM series WHERE site = $1 AND device = $2 AND quantity = $3"

READ_SERIES_WITH_IDS = f"""
SELECT id, site, device, quantity, unit, entity_id, meter_kind, is_counter FROM series
WHERE {of_site("$1")}"""  # noqa: S608

READ_SERIES = f"""
SELECT site, device, quantity, unit, entity_id, meter_kind, is_counter FROM series
WHERE {of_site("$1")} ORDER BY id"""  # noqa: S608

READ_SAMPLES = """
SELECT ts, value FROM samples WHERE series = $1 AND ts >= $2 AND ts < $3 ORDER BY ts"""


def read_rollups(period: RollupPeriod) -> str:
    return f"""
SELECT bucket, count, min, max, mean, first, last, delta FROM {ROLLUP_TABLES[period]}
WHERE series = $1 AND bucket >= $2 AND bucket < $3 ORDER BY bucket"""  # noqa: S608


READ_STATISTICS = """
SELECT start, mean, min, max, state, sum, unit, source FROM ha_statistics
WHERE site = $1 AND statistic_id = $2 AND period = $3 AND start >= $4 AND start < $5
ORDER BY start"""

READ_SITES = "SELECT site, last_seen, version, backlog, time_zone FROM sites ORDER BY site"
