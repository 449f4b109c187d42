"""The tmpo history client: block decoding, hourly statistics, and the API double."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from custom_components.wattkeeper.meters.errors import (
    MeterAuthError,
    MeterConnectionError,
    MeterDataError,
    MeterUnsupportedError,
)
from custom_components.wattkeeper.meters.flukso_tmpo import (
    DEFAULT_BASE_URL,
    FLUKSO_CA_FILE,
    BlockRef,
    HourlyStatistic,
    TmpoBlock,
    TmpoClient,
    decode_block,
    flukso_ssl_context,
    hourly_statistics,
    merge_blocks,
    needs_flukso_ca,
)
from simulators.cql_tls import CqlTls
from simulators.flukso_tmpo import TmpoSensor, TmpoServer, generate_counter

FIXTURES = Path(__file__).parents[1] / "fixtures" / "flukso"
H0 = 1_699_999_200  # 2023-11-14T22:00:00Z, an hour boundary
SENSOR = "0123456789abcdef0123456789abcdef"
TOKEN = "s3cr3t-t0k3n"
REF = BlockRef(rid=0, bid=1_699_999_744, lvl=12)


def hour(offset: int) -> datetime:
    return datetime.fromtimestamp(H0 + offset * 3600, UTC)


def hand_block() -> bytes:
    return gzip.compress((FIXTURES / "tmpo_block.json").read_bytes().strip())


def test_decode_the_hand_written_block() -> None:
    block = decode_block(REF, hand_block())

    assert block.points == (
        (H0, 1000.0),
        (H0 + 1800, 1250.0),
        (H0 + 3600, 1500.0),
        (H0 + 5400, 2000.0),
        (H0 + 9000, 3000.5),
    )
    assert block.config["type"] == "electricity"


def test_hourly_rows_of_the_hand_written_block() -> None:
    rows = hourly_statistics(decode_block(REF, hand_block()).points)

    # Hour 0: 1.000 → 1.250 kWh; hour 1: → 2.000; hour 2: → 3.0005.
    assert rows == [
        HourlyStatistic(hour(0), 1.25, 0.25),
        HourlyStatistic(hour(1), 2.0, 1.0),
        HourlyStatistic(hour(2), 3.0005, 2.0005),
    ]


def test_decode_accepts_an_already_inflated_block() -> None:
    raw = (FIXTURES / "tmpo_block.json").read_bytes()

    assert decode_block(REF, raw).points == decode_block(REF, hand_block()).points


@pytest.mark.parametrize(
    "raw",
    [
        hand_block()[:40],
        b"\x00\x01garbage",
        gzip.compress(b"[1, 2, 3]"),
        gzip.compress(b'{"h": {"head": [1, 2], "tail": [1, 2]}, "t": [0, 1], "v": [0]}'),
        gzip.compress(b'{"h": {"head": [1, 2], "tail": [9, 9]}, "t": [0, 1], "v": [0, 1]}'),
        gzip.compress(b'{"h": {"head": [1, 2], "tail": [2, 3]}, "t": [0, 1], "v": [0, "x"]}'),
        gzip.compress(b'{"h": {"tail": [2, 3]}, "t": [0], "v": [0]}'),
    ],
)
def test_decode_rejects_broken_blocks(raw: bytes) -> None:
    with pytest.raises(MeterDataError):
        decode_block(REF, raw)


def test_merge_prefers_nothing_twice() -> None:
    parent = TmpoBlock(BlockRef(0, 0, 12), {}, ((10, 1.0), (300, 2.0), (600, 3.0)))
    stale_child = TmpoBlock(BlockRef(0, 256, 8), {}, ((300, 2.0),))
    next_cycle = TmpoBlock(BlockRef(1, 4096, 8), {}, ((4100, 0.5),))

    merged = merge_blocks([next_cycle, stale_child, parent])

    assert merged == ((10, 1.0), (300, 2.0), (600, 3.0), (4100, 0.5))


def test_hourly_handles_resets_and_jitter() -> None:
    points = [
        (H0, 1000.0),
        (H0 + 600, 1100.0),
        (H0 + 1200, 1095.0),  # jitter: a 0.5 % dip adds nothing
        (H0 + 3700, 50.0),  # reset: the counter restarted from zero
        (H0 + 4000, 80.0),
    ]

    assert hourly_statistics(points) == [
        HourlyStatistic(hour(0), 1.1, 0.1),
        HourlyStatistic(hour(1), 0.08, 0.18),
    ]


def test_hourly_continues_from_a_base_row() -> None:
    points = [(H0, 1000.0), (H0 + 600, 1100.0), (H0 + 3700, 1150.0), (H0 + 7300, 1400.0)]
    base = HourlyStatistic(hour(0), 1.1, 5.0)

    assert hourly_statistics(points, base=base) == [
        HourlyStatistic(hour(1), 1.15, 5.05),
        HourlyStatistic(hour(2), 1.4, 5.3),
    ]


# -- against the API double ------------------------------------------------------

DAYS = 14
NOW = H0 + DAYS * 86_400 + 1234


def history() -> list[tuple[int, float]]:
    return generate_counter(H0 - 300, NOW, seed=7)


async def start_server(**kwargs: object) -> TmpoServer:
    server = TmpoServer(now=NOW, **kwargs)  # type: ignore[arg-type]
    server.add_sensor(
        TmpoSensor(
            SENSOR,
            TOKEN,
            {0: history()},
            {"id": SENSOR, "type": "electricity", "data_type": "counter"},
        )
    )
    await server.start()
    return server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def server() -> AsyncIterator[TmpoServer]:
    double = await start_server()
    yield double
    await double.stop()


def served(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Everything but the level-8 block still open on the meter."""
    return [(ts, v) for ts, v in points if ts // 256 < NOW // 256]


def expected_rows(points: list[tuple[int, float]]) -> list[HourlyStatistic]:
    """The plain definition: per hour, the last reading and the growth since the first."""
    first = points[0][1]
    last_in_hour: dict[int, float] = {}
    for ts, value in points:
        last_in_hour[ts - ts % 3600] = value
    return [
        HourlyStatistic(
            datetime.fromtimestamp(start, UTC),
            pytest.approx(value / 1000, abs=1e-9),  # type: ignore[arg-type]
            pytest.approx((value - first) / 1000, abs=1e-9),  # type: ignore[arg-type]
        )
        for start, value in sorted(last_in_hour.items())
    ]


async def test_series_from_the_double_equals_the_history(
    session: aiohttp.ClientSession, server: TmpoServer
) -> None:
    client = TmpoClient(session, server.base_url)

    refs = await client.list_blocks(SENSOR, TOKEN)
    series = await client.fetch_series(SENSOR, TOKEN)

    assert {ref.lvl for ref in refs} == {8, 12, 16, 20}
    assert list(series.points) == served(history())
    assert (series.blocks, series.bad_blocks, series.sensor_type) == (len(refs), 0, "electricity")


async def test_hourly_import_equals_hand_definition_and_is_idempotent(
    session: aiohttp.ClientSession, server: TmpoServer
) -> None:
    client = TmpoClient(session, server.base_url)

    first = await client.fetch_hourly(SENSOR, TOKEN)
    second = await client.fetch_hourly(SENSOR, TOKEN)

    assert first.unit == "kWh"
    assert list(first.rows) == expected_rows(served(history()))
    assert first.rows == second.rows


async def test_overlapping_stale_blocks_change_nothing(session: aiohttp.ClientSession) -> None:
    clean = await start_server()
    stale = await start_server(stale_children=True)
    try:
        rows = (await TmpoClient(session, clean.base_url).fetch_hourly(SENSOR, TOKEN)).rows
        listing = await TmpoClient(session, stale.base_url).list_blocks(SENSOR, TOKEN)
        again = (await TmpoClient(session, stale.base_url).fetch_hourly(SENSOR, TOKEN)).rows
    finally:
        await clean.stop()
        await stale.stop()

    assert len(listing) > len(clean.blocks(SENSOR))
    assert again == rows


async def test_a_window_fetches_only_the_blocks_it_needs(
    session: aiohttp.ClientSession, server: TmpoServer
) -> None:
    client = TmpoClient(session, server.base_url)
    start, end = NOW - 6 * 3600, NOW - 3600

    series = await client.fetch_series(SENSOR, TOKEN, start=start, end=end)

    assert list(series.points) == [(ts, v) for ts, v in history() if start <= ts < end]
    assert series.blocks < len(server.blocks(SENSOR))


async def test_a_corrupt_block_is_skipped_and_counted(session: aiohttp.ClientSession) -> None:
    server = await start_server()
    bad = next(b for b in server.blocks(SENSOR) if b.lvl == 16)
    server.corrupt = {bad.bid}
    try:
        result = await TmpoClient(session, server.base_url).fetch_hourly(SENSOR, TOKEN)
    finally:
        await server.stop()

    assert result.series.bad_blocks == 1
    kept = [(ts, v) for ts, v in served(history()) if not bad.bid <= ts < bad.end]
    assert list(result.series.points) == kept
    # The sums stay true across the hole: the last row is the whole growth.
    assert result.rows[-1].sum == pytest.approx((kept[-1][1] - kept[0][1]) / 1000)


async def test_a_wrong_token_is_an_auth_error(
    session: aiohttp.ClientSession, server: TmpoServer
) -> None:
    with pytest.raises(MeterAuthError):
        await TmpoClient(session, server.base_url).fetch_series(SENSOR, "wrong")


async def test_a_gauge_sensor_cannot_be_imported(session: aiohttp.ClientSession) -> None:
    server = TmpoServer(now=NOW)
    server.add_sensor(TmpoSensor(SENSOR, TOKEN, {0: history()[:50]}, {"data_type": "gauge"}))
    await server.start()
    try:
        with pytest.raises(MeterUnsupportedError):
            await TmpoClient(session, server.base_url).fetch_hourly(SENSOR, TOKEN)
    finally:
        await server.stop()


async def test_an_unreachable_server_is_a_connection_error(
    session: aiohttp.ClientSession,
) -> None:
    server = await start_server()
    url = server.base_url
    await server.stop()

    with pytest.raises(MeterConnectionError):
        await TmpoClient(session, url).list_blocks(SENSOR, TOKEN)


# -- TLS ----------------------------------------------------------------------------

# The certificate Flukso publishes in its firmware and in tmpo-py.
FLUKSO_CA_SHA256 = "f4169f4f2a3af6157e612063a58dadc592462cf11b04f1fa404e901eb4c533c7"


def test_the_shipped_ca_is_flukso_s_own_and_trusted() -> None:
    cert = x509.load_pem_x509_certificate(FLUKSO_CA_FILE.read_bytes())
    assert cert.fingerprint(hashes.SHA256()).hex() == FLUKSO_CA_SHA256
    assert cert.subject.rfc4514_string() == "CN=flukso.net,O=Flukso,C=BE"
    assert cert.not_valid_after_utc.year == 2035

    trusted = flukso_ssl_context().get_ca_certs()
    assert [c for c in trusted if ((("commonName", "flukso.net"),) in c["subject"])]


@pytest.mark.parametrize(
    ("url", "needed"),
    [
        (DEFAULT_BASE_URL, True),
        ("https://API.flukso.net/", True),
        ("http://127.0.0.1:8080", False),
        ("https://api.flukso.net.example.org", False),
        ("https://tmpo.example.org", False),
    ],
)
def test_only_flukso_net_itself_needs_its_ca(url: str, needed: bool) -> None:
    assert needs_flukso_ca(url) is needed


async def test_a_server_signed_by_a_private_ca_is_trusted_through_the_given_context(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """What api.flukso.net needs: its CA in the client's context, not in the system's."""
    tls = CqlTls.create(tmp_path, name="Private tmpo CA")
    server = await start_server(ssl_context=tls.server_context)
    try:
        trusted = TmpoClient(session, server.base_url, ssl_context=flukso_ssl_context(tls.ca_file))
        assert await trusted.list_blocks(SENSOR, TOKEN)
        with pytest.raises(MeterConnectionError):
            await TmpoClient(session, server.base_url).list_blocks(SENSOR, TOKEN)
    finally:
        await server.stop()
