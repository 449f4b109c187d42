"""History from the flukso.net tmpo API, as hourly statistics ready to import.

The protocol (as flukso.net serves it and the tmpo-py reference client reads it):
- `GET {base}/sensor/{sensor}/tmpo/sync?rid=R&lvl=L&bid=B`, headers
  `X-Version: 1.0`, `X-Token: <sensor token>`, `Accept: application/json`:
  the blocks stored after block (R, L, B) — all of them from (0, 0, 0) — as
  `[{"rid": 0, "lvl": 20, "bid": 1506803712, "ext": "gz"}, …]`.
- `GET {base}/sensor/{sensor}/tmpo/{rid}/{lvl}/{bid}`, `Accept:
  application/gzip`: one block, a gzip file holding
  `{"h": {"vsn": 1, "cfg": {<sensor config>}, "head": [t0, v0], "tail": [tn, vn]},
    "t": [0, dt1, …], "v": [0, dv1, …]}`; point i is head plus the sum of the
  first i+1 deltas. A block spans [bid, bid + 2**lvl) seconds, lvl 8, 12, 16
  or 20; the meter compacts sixteen finished blocks into one of the next level,
  so a listing can hold a block and the blocks it was compacted from.
- `rid` (recycle id) changes when the sensor's counter restarts.

TLS: api.flukso.net presents a certificate signed by Flukso's own CA, which
the firmware and tmpo-py trust; it ships here as flukso_ca.pem, and
`flukso_ssl_context` trusts it on top of the system's CAs.

Values are the meter's counter: Wh for electricity, litres for gas and water;
both become kWh / m³ with a factor 1/1000. tmpod rounds deltas to three
decimals, so decoded values are rounded there too.

hourly_statistics() turns a counter series into (start, state, sum) rows the
way Home Assistant compiles a total_increasing sensor: `state` is the last
reading in the hour, `sum` the growth since the first reading. A drop of more
than 10 % is a counter reset (the new value is growth since zero); a smaller
drop is jitter and adds nothing. Rows exist only for hours with readings, so
the growth over a gap lands in the hour the data resumes. The function is pure:
importing the same history twice yields identical rows.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import math
import ssl
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from aiohttp import ClientError, ClientSession, ClientTimeout

from .errors import (
    MeterAuthError,
    MeterConnectionError,
    MeterDataError,
    MeterTimeoutError,
    MeterUnsupportedError,
)

LOGGER = logging.getLogger(__name__)

DEFAULT_HOST: Final = "api.flukso.net"
DEFAULT_BASE_URL: Final = f"https://{DEFAULT_HOST}"
FLUKSO_CA_FILE: Final = Path(__file__).with_name("flukso_ca.pem")
API_VERSION: Final = "1.0"
LEVELS: Final = (8, 12, 16, 20)
HOUR: Final = 3600
# Wh → kWh and L → m³ alike.
COUNTER_FACTOR: Final = 0.001
UNIT_BY_TYPE: Final = {"electricity": "kWh", "gas": "m³", "water": "m³"}
_RESET_DROP: Final = 0.9
_GZIP_MAGIC: Final = b"\x1f\x8b"


@dataclass(frozen=True, slots=True, order=True)
class BlockRef:
    """Where a block lives; orders by recycle id, then time, then coarser first."""

    rid: int
    bid: int
    lvl: int
    ext: str = "gz"

    @property
    def end(self) -> int:
        return self.bid + (1 << self.lvl)


@dataclass(frozen=True, slots=True)
class TmpoBlock:
    ref: BlockRef
    config: Mapping[str, Any]
    points: tuple[tuple[int, float], ...]


@dataclass(frozen=True, slots=True)
class TmpoSeries:
    """A sensor's decoded history."""

    sensor_id: str
    points: tuple[tuple[int, float], ...]
    config: Mapping[str, Any]
    blocks: int
    bad_blocks: int = 0

    @property
    def sensor_type(self) -> str | None:
        value = self.config.get("type")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class HourlyStatistic:
    """One row for Home Assistant's async_import_statistics (state and sum in kWh or m³)."""

    start: datetime
    state: float
    sum: float


@dataclass(frozen=True, slots=True)
class TmpoImport:
    """Everything the glue needs to import one sensor's history."""

    sensor_id: str
    unit: str
    rows: tuple[HourlyStatistic, ...]
    series: TmpoSeries = field(repr=False)


def decode_block(ref: BlockRef, raw: bytes) -> TmpoBlock:
    """Decode one block (gzip file, or JSON when the transport already inflated it)."""
    try:
        text = gzip.decompress(raw) if raw[:2] == _GZIP_MAGIC else raw
        data = json.loads(text)
    except (OSError, EOFError, zlib.error, ValueError) as err:
        raise MeterDataError(f"tmpo block {ref} is not gzip JSON: {err}") from err
    if not isinstance(data, dict):
        raise MeterDataError(f"tmpo block {ref} is not an object")
    header, deltas_t, deltas_v = data.get("h"), data.get("t"), data.get("v")
    if not isinstance(header, dict) or not isinstance(deltas_t, list):
        raise MeterDataError(f"tmpo block {ref} lacks its header or timestamps")
    if not isinstance(deltas_v, list) or len(deltas_t) != len(deltas_v):
        raise MeterDataError(f"tmpo block {ref} has {len(deltas_t)} times but other values")
    head_t, head_v = _pair(header.get("head"), ref, "head")
    tail_t, tail_v = _pair(header.get("tail"), ref, "tail")
    timestamp, value = head_t, head_v
    points: list[tuple[int, float]] = []
    for dt, dv in zip(deltas_t, deltas_v, strict=True):
        if not _number(dt) or not _number(dv):
            raise MeterDataError(f"tmpo block {ref} holds a non-number")
        timestamp += int(dt)
        value += dv
        points.append((timestamp, round(value, 3)))
    if points and (points[-1][0] != tail_t or abs(points[-1][1] - tail_v) > 0.01):
        raise MeterDataError(f"tmpo block {ref}: the deltas do not end at its tail")
    config = header.get("cfg")
    return TmpoBlock(ref, config if isinstance(config, dict) else {}, tuple(points))


def merge_blocks(blocks: Sequence[TmpoBlock]) -> tuple[tuple[int, float], ...]:
    """One series from blocks that may overlap (a block and its compacted parent).

    Recycle ids follow each other in time; within one, a timestamp keeps the
    value of the coarsest block that has it (they are equal anyway).
    """
    by_key: dict[tuple[int, int], float] = {}
    for block in sorted(blocks, key=lambda b: (b.ref.rid, -b.ref.lvl, b.ref.bid)):
        for timestamp, value in block.points:
            by_key.setdefault((block.ref.rid, timestamp), value)
    return tuple((timestamp, by_key[(rid, timestamp)]) for rid, timestamp in sorted(by_key))


def hourly_statistics(
    points: Sequence[tuple[int, float]],
    *,
    factor: float = COUNTER_FACTOR,
    base: HourlyStatistic | None = None,
) -> list[HourlyStatistic]:
    """Hourly (start, state, sum) rows from a counter series in the meter's unit.

    `base` is the last row Home Assistant already holds: readings up to its
    hour's end are skipped and sums continue from it.
    """
    rows: list[HourlyStatistic] = []
    skip_before = int(base.start.timestamp()) + HOUR if base is not None else None
    previous: float | None = base.state if base is not None else None
    total = base.sum if base is not None else 0.0
    hour: int | None = None
    state = hour_total = 0.0
    for timestamp, raw_value in points:
        if skip_before is not None and timestamp < skip_before:
            continue
        value = raw_value * factor
        if previous is not None:
            if value >= previous:
                total += value - previous
            elif value < previous * _RESET_DROP:
                total += value  # counter restarted from zero
            else:
                value = previous  # jitter: keep the high-water mark
        previous = value
        this_hour = timestamp - timestamp % HOUR
        if hour is not None and this_hour != hour:
            rows.append(_row(hour, state, hour_total))
        hour, state, hour_total = this_hour, value, total
    if hour is not None:
        rows.append(_row(hour, state, hour_total))
    return rows


def flukso_ssl_context(ca_file: Path = FLUKSO_CA_FILE) -> ssl.SSLContext:
    """A client context that trusts Flukso's CA besides the system's.

    It reads files, so an event loop calls it in an executor.
    """
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=ca_file)
    return context


def needs_flukso_ca(base_url: str) -> bool:
    """Whether `base_url` is flukso.net's own API, whose certificate Flukso's CA signed."""
    return (urlsplit(base_url).hostname or "").lower() == DEFAULT_HOST


class TmpoClient:
    """Asynchronous client for the tmpo API of flukso.net (or a compatible server).

    `ssl_context` verifies the server: for the default host, one from
    flukso_ssl_context(); None keeps the session's default verification.
    """

    def __init__(
        self,
        session: ClientSession,
        base_url: str = DEFAULT_BASE_URL,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
        concurrency: int = 4,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self.ssl_context = ssl_context
        self._timeout = ClientTimeout(total=timeout)
        self._concurrency = concurrency

    async def list_blocks(
        self, sensor_id: str, token: str, *, after: BlockRef | None = None
    ) -> list[BlockRef]:
        """The blocks stored after `after` (all of them by default), in time order."""
        params = {"rid": 0, "lvl": 0, "bid": 0}
        if after is not None:
            params = {"rid": after.rid, "lvl": after.lvl, "bid": after.bid}
        path = f"/sensor/{sensor_id}/tmpo/sync"  # noqa: S108  (a URL path, not a file)
        body = await self._get(path, token, "application/json", params)
        try:
            listing = json.loads(body)
            refs = [
                BlockRef(int(e["rid"]), int(e["bid"]), int(e["lvl"]), str(e.get("ext", "gz")))
                for e in listing
            ]
        except (ValueError, TypeError, KeyError) as err:
            raise MeterDataError(f"tmpo block list for {sensor_id} is unreadable") from err
        return sorted(refs)

    async def fetch_block(self, sensor_id: str, token: str, ref: BlockRef) -> TmpoBlock:
        if ref.ext != "gz":
            raise MeterDataError(f"tmpo block {ref} uses unknown compression {ref.ext!r}")
        path = f"/sensor/{sensor_id}/tmpo/{ref.rid}/{ref.lvl}/{ref.bid}"  # noqa: S108
        body = await self._get(path, token, "application/gzip")
        return decode_block(ref, body)

    async def fetch_series(
        self,
        sensor_id: str,
        token: str,
        *,
        start: int | None = None,
        end: int | None = None,
    ) -> TmpoSeries:
        """Every reading in [start, end) (unix seconds; open ends by default).

        An unreadable block is skipped, counted and logged, not fatal: the
        hourly sums stay right, the hours it covered just have no rows.
        """
        refs = [
            ref
            for ref in await self.list_blocks(sensor_id, token)
            if (start is None or ref.end > start) and (end is None or ref.bid < end)
        ]
        gate = asyncio.Semaphore(self._concurrency)

        async def fetch(ref: BlockRef) -> TmpoBlock | MeterDataError:
            async with gate:
                try:
                    return await self.fetch_block(sensor_id, token, ref)
                except MeterDataError as err:
                    return err

        results = await asyncio.gather(*(fetch(ref) for ref in refs))
        blocks = [r for r in results if isinstance(r, TmpoBlock)]
        bad = [r for r in results if isinstance(r, MeterDataError)]
        for err in bad:
            LOGGER.warning("Skipping a tmpo block of sensor %s: %s", sensor_id, err)
        points = tuple(
            (ts, value)
            for ts, value in merge_blocks(blocks)
            if (start is None or ts >= start) and (end is None or ts < end)
        )
        config = blocks[-1].config if blocks else {}
        return TmpoSeries(sensor_id, points, config, len(blocks), len(bad))

    async def fetch_hourly(
        self,
        sensor_id: str,
        token: str,
        *,
        sensor_type: str | None = None,
        start: int | None = None,
        end: int | None = None,
        base: HourlyStatistic | None = None,
    ) -> TmpoImport:
        """Fetch a counter sensor's history and aggregate it into hourly rows."""
        series = await self.fetch_series(sensor_id, token, start=start, end=end)
        if series.config.get("data_type") == "gauge":
            raise MeterUnsupportedError(f"tmpo sensor {sensor_id} is a gauge, not a counter")
        kind = sensor_type or series.sensor_type or "electricity"
        unit = UNIT_BY_TYPE.get(kind)
        if unit is None:
            raise MeterUnsupportedError(f"tmpo sensor {sensor_id} meters {kind!r}")
        rows = hourly_statistics(series.points, base=base)
        return TmpoImport(sensor_id, unit, tuple(rows), series)

    async def _get(
        self, path: str, token: str, accept: str, params: Mapping[str, int] | None = None
    ) -> bytes:
        headers = {"X-Version": API_VERSION, "X-Token": token, "Accept": accept}
        try:
            async with self._session.get(
                f"{self._base}{path}",
                headers=headers,
                params=params,
                timeout=self._timeout,
                ssl=self.ssl_context if self.ssl_context is not None else True,
            ) as response:
                if response.status in (401, 403):
                    raise MeterAuthError("flukso.net refused the sensor token")
                if response.status == 404:
                    raise MeterDataError(f"flukso.net has nothing at {path}")
                if response.status >= 400:
                    raise MeterConnectionError(f"flukso.net answered HTTP {response.status}")
                return await response.read()
        except TimeoutError as err:
            raise MeterTimeoutError("flukso.net did not answer in time") from err
        except ClientError as err:
            raise MeterConnectionError(f"Cannot reach {self._base}: {err}") from err


def _row(hour: int, state: float, total: float) -> HourlyStatistic:
    # Rounded to well below the meters' resolution, to shed float noise.
    return HourlyStatistic(datetime.fromtimestamp(hour, UTC), round(state, 9), round(total, 9))


def _pair(value: Any, ref: BlockRef, name: str) -> tuple[int, float]:
    if isinstance(value, list) and len(value) == 2 and _number(value[0]) and _number(value[1]):
        return int(value[0]), float(value[1])
    raise MeterDataError(f"tmpo block {ref} has no valid {name}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
