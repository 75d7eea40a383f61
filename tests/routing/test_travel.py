"""Travel-time providers: straight-line arithmetic, and OSRM through a fake table server that can fail on demand.

OSRM is a third-party server we cannot run here, so a small aiohttp server speaks its table API: it computes a
deterministic, asymmetric matrix from the coordinates in the URL, honours sources/destinations and annotations,
refuses tables over its size cap like osrm-routed, and counts requests.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Literal

import httpx
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from services.routing.travel import (
    UNREACHABLE_METRES,
    UNREACHABLE_SECONDS,
    BreakerState,
    CircuitBreaker,
    Coordinate,
    OsrmTableProvider,
    StraightLineProvider,
    TravelMatrix,
)

DEPOT = Coordinate(22.7553, 121.1504)
ZONE_A = Coordinate(22.760, 121.140)
ZHIBEN = Coordinate(22.7105, 121.0590)
BEINAN = Coordinate(22.7850, 121.0830)
GREEN_ISLAND = Coordinate(22.6610, 121.4900)  # Taitung County, but no road from the mainland

FakeMode = Literal["ok", "slow", "error", "invalid_query", "garbage", "wrong_shape", "no_road"]


def fake_seconds(a: Coordinate, b: Coordinate) -> float:
    """The fake's travel time: asymmetric (uphill to the north costs more), never a whole number."""
    if a == b:
        return 0.0
    return 30.25 + 9_000.0 * abs(a.lat - b.lat) + 11_000.0 * abs(a.lon - b.lon) + (15.0 if b.lat > a.lat else 0.0)


def fake_metres(a: Coordinate, b: Coordinate) -> float:
    if a == b:
        return 0.0
    return 40.25 + 130_000.0 * abs(a.lat - b.lat) + 120_000.0 * abs(a.lon - b.lon) + (100.0 if b.lon > a.lon else 0.0)


class FakeOsrm:
    """The OSRM table service as far as the provider uses it, switchable to each way a real one fails."""

    def __init__(self, max_table_size: int = 100) -> None:
        self.max_table_size = max_table_size
        self.mode: FakeMode = "ok"
        self.requests: list[str] = []
        self.release = asyncio.Event()  # set at teardown so a slow answer does not hold the server open
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        if self.mode == "slow":
            try:
                async with asyncio.timeout(5):
                    await self.release.wait()
            except TimeoutError:
                pass
        if self.mode == "error":
            return web.Response(status=500, text="Internal Server Error")
        if self.mode == "invalid_query":
            return web.json_response({"code": "InvalidQuery", "message": "Query string malformed"}, status=400)
        if self.mode == "garbage":
            return web.Response(status=200, text="<html>upstream proxy error", content_type="text/html")
        return self._table(request)

    def _table(self, request: web.Request) -> web.Response:
        locations = [
            Coordinate(float(lat), float(lon))
            for lon, lat in (pair.split(",") for pair in request.match_info["coordinates"].split(";"))
        ]
        sources = _indices(request.query.get("sources"), len(locations))
        destinations = _indices(request.query.get("destinations"), len(locations))
        if len(sources) * len(destinations) > self.max_table_size**2:
            return web.json_response({"code": "TooBig", "message": "Too many table coordinates"}, status=400)
        annotations = request.query.get("annotations", "duration").split(",")
        body: dict[str, object] = {
            "code": "Ok",
            "sources": [{"location": [locations[i].lon, locations[i].lat]} for i in sources],
            "destinations": [{"location": [locations[j].lon, locations[j].lat]} for j in destinations],
        }
        for annotation, formula in (("duration", fake_seconds), ("distance", fake_metres)):
            if annotation in annotations:
                body[f"{annotation}s"] = [
                    [None if self._no_road(locations[i], locations[j]) else formula(locations[i], locations[j])
                     for j in destinations]
                    for i in sources
                ]  # fmt: skip
        if self.mode == "wrong_shape":
            body["durations"] = body["durations"][:-1]  # type: ignore[index]
        return web.json_response(body)

    def _no_road(self, a: Coordinate, b: Coordinate) -> bool:
        return self.mode == "no_road" and (a == GREEN_ISLAND) != (b == GREEN_ISLAND)


def _indices(value: str | None, count: int) -> list[int]:
    return list(range(count)) if value in (None, "all") else [int(index) for index in value.split(";")]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def fake_osrm() -> AsyncIterator[FakeOsrm]:
    fake = FakeOsrm()
    app = web.Application()
    app.router.add_get("/table/v1/{profile}/{coordinates}", fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.base_url = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        fake.release.set()
        await runner.cleanup()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port bound but not listening: a connection to it is refused, and nothing else can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def osrm(base_url: str, clock: FakeClock, *, timeout_seconds: float = 2.0) -> OsrmTableProvider:
    return OsrmTableProvider(
        base_url,
        timeout_seconds=timeout_seconds,
        breaker=CircuitBreaker(failure_threshold=3, reset_seconds=30.0, clock=clock),
        fallback=StraightLineProvider(),
    )


def expected_from_fake(points: list[Coordinate]) -> tuple[list[list[int]], list[list[int]]]:
    return (
        [[round(fake_seconds(a, b)) for b in points] for a in points],
        [[round(fake_metres(a, b)) for b in points] for a in points],
    )


def as_lists(matrix: TravelMatrix) -> tuple[list[list[int]], list[list[int]]]:
    return [list(row) for row in matrix.durations], [list(row) for row in matrix.distances]


def travel_requests(source: str, outcome: str) -> float:
    labels = {"source": source, "outcome": outcome}
    return REGISTRY.get_sample_value("luckygas_routing_travel_requests_total", labels) or 0.0


def breaker_gauge() -> float | None:
    return REGISTRY.get_sample_value("luckygas_routing_travel_breaker_open")


def taitung_grid(count: int) -> list[Coordinate]:
    """Distinct points 25 to a column over the town; 6 decimals so the URL carries them exactly."""
    return [Coordinate(round(22.70 + (k % 25) * 0.004, 6), round(121.05 + (k // 25) * 0.011, 6)) for k in range(count)]


# Straight line


async def test_straight_line_depot_to_zone_a_matches_the_hand_computation() -> None:
    # Δlat 0.0047° × 111,195 m/° = 522.6 m north; Δlon 0.0104° × 111,195 m/° × cos 22.758° (0.92215) = 1,066.4 m
    # west; √(522.6² + 1,066.4²) = 1,187.6 m. × 1.3 = 1,543.9 m → 1,544; at 30 km/h (8.333 m/s) 185.3 s → 185.
    matrix = await StraightLineProvider().matrix([DEPOT, ZONE_A])

    assert matrix.distances == ((0, 1544), (1544, 0))
    assert matrix.durations == ((0, 185), (185, 0))
    assert (matrix.source, matrix.degraded, matrix.reason) == ("straight_line", False, None)


async def test_straight_line_detour_factor_and_speed_are_parameters() -> None:
    # 1,187.6 m as the crow flies at 60 km/h (16.667 m/s): 71.3 s.
    matrix = await StraightLineProvider(detour_factor=1.0, speed_kmh=60.0).matrix([DEPOT, ZONE_A])

    assert matrix.distances[0][1] == 1188
    assert matrix.durations[0][1] == 71


async def test_straight_line_matrix_is_symmetric_with_a_zero_diagonal() -> None:
    points = [DEPOT, ZONE_A, ZHIBEN, BEINAN, GREEN_ISLAND]

    matrix = await StraightLineProvider().matrix(points)

    for grid in (matrix.durations, matrix.distances):
        assert all(grid[i][i] == 0 for i in range(len(points)))
        assert all(grid[i][j] == grid[j][i] > 0 for i in range(len(points)) for j in range(len(points)) if i != j)


# OSRM answering


async def test_osrm_answer_is_the_servers_numbers(fake_osrm: FakeOsrm, clock: FakeClock) -> None:
    points = [DEPOT, ZONE_A, ZHIBEN, BEINAN]
    ok_before = travel_requests("osrm", "ok")

    async with osrm(fake_osrm.base_url, clock) as provider:
        matrix = await provider.matrix(points)

    assert as_lists(matrix) == expected_from_fake(points)
    assert matrix.durations[0][1] != matrix.durations[1][0]  # the fake is asymmetric, so nothing was transposed
    assert (matrix.source, matrix.degraded, matrix.reason, matrix.unreachable) == ("osrm", False, None, ())
    assert fake_osrm.requests == [
        "/table/v1/driving/121.150400,22.755300;121.140000,22.760000;121.059000,22.710500;121.083000,22.785000"
        "?annotations=duration,distance"
    ]
    assert travel_requests("osrm", "ok") == ok_before + 1


async def test_large_matrix_is_assembled_from_blocks_the_server_accepts(fake_osrm: FakeOsrm, clock: FakeClock) -> None:
    points = taitung_grid(250)

    async with osrm(fake_osrm.base_url, clock) as provider:
        matrix = await provider.matrix(points)

    assert not matrix.degraded, matrix.reason
    assert as_lists(matrix) == expected_from_fake(points)
    # 3 row blocks × 3 column blocks (100, 100, 50); the 6 off the diagonal name their sources and destinations.
    assert len(fake_osrm.requests) == 9
    assert sum("&sources=" in path and "&destinations=" in path for path in fake_osrm.requests) == 6


async def test_pairs_without_a_road_are_unreachable_not_degraded(fake_osrm: FakeOsrm, clock: FakeClock) -> None:
    fake_osrm.mode = "no_road"

    async with osrm(fake_osrm.base_url, clock) as provider:
        matrix = await provider.matrix([DEPOT, ZONE_A, GREEN_ISLAND])

    assert (matrix.source, matrix.degraded) == ("osrm", False)
    assert set(matrix.unreachable) == {(0, 2), (1, 2), (2, 0), (2, 1)}
    assert matrix.durations[0][2] == matrix.durations[2][1] == UNREACHABLE_SECONDS
    assert matrix.distances[2][0] == UNREACHABLE_METRES
    assert matrix.durations[0][1] == round(fake_seconds(DEPOT, ZONE_A))


async def test_no_points_or_one_point_needs_no_request(fake_osrm: FakeOsrm, clock: FakeClock) -> None:
    async with osrm(fake_osrm.base_url, clock) as provider:
        empty = await provider.matrix([])
        single = await provider.matrix([DEPOT])

    assert (empty.durations, empty.distances) == ((), ())
    assert (single.durations, single.distances, single.degraded) == (((0,),), ((0,),), False)
    assert fake_osrm.requests == []


async def test_a_client_passed_in_stays_open_for_its_owner(fake_osrm: FakeOsrm, clock: FakeClock) -> None:
    async with httpx.AsyncClient() as client:
        provider = OsrmTableProvider(
            fake_osrm.base_url,
            timeout_seconds=2.0,
            breaker=CircuitBreaker(clock=clock),
            fallback=StraightLineProvider(),
            client=client,
        )
        async with provider:
            assert not (await provider.matrix([DEPOT, ZONE_A])).degraded

        assert not client.is_closed


# OSRM failing


@pytest.mark.parametrize(
    ("mode", "outcome", "reason"),
    [
        ("slow", "timeout", "no complete answer within 0.2 s"),
        ("error", "rejected", "HTTP 500"),
        ("invalid_query", "rejected", "HTTP 400 InvalidQuery: Query string malformed"),
        ("garbage", "malformed", "not a JSON object"),
        ("wrong_shape", "malformed", "durations is not a list of 2 rows"),
    ],
)
async def test_each_failure_answers_from_the_fallback_marked_degraded(
    fake_osrm: FakeOsrm, clock: FakeClock, mode: FakeMode, outcome: str, reason: str
) -> None:
    fake_osrm.mode = mode
    failures_before = travel_requests("osrm", outcome)

    async with osrm(fake_osrm.base_url, clock, timeout_seconds=0.2) as provider:
        started = time.monotonic()
        matrix = await provider.matrix([DEPOT, ZONE_A])
        elapsed = time.monotonic() - started

    assert (matrix.source, matrix.degraded) == ("straight_line", True)
    assert matrix.reason is not None
    assert reason in matrix.reason
    assert matrix.durations == StraightLineProvider().compute([DEPOT, ZONE_A]).durations
    assert len(fake_osrm.requests) == 1
    assert travel_requests("osrm", outcome) == failures_before + 1
    assert elapsed < 1.0  # a slow server costs the timeout, not its 5 s


async def test_a_table_over_the_servers_cap_is_a_failure_not_an_error(fake_osrm: FakeOsrm, clock: FakeClock) -> None:
    fake_osrm.max_table_size = 10

    async with osrm(fake_osrm.base_url, clock) as provider:
        matrix = await provider.matrix(taitung_grid(11))

    assert matrix.degraded
    assert matrix.reason == "OSRM answered HTTP 400 TooBig: Too many table coordinates"


async def test_connection_refused_answers_from_the_fallback(refused_port: int, clock: FakeClock) -> None:
    async with osrm(f"http://127.0.0.1:{refused_port}", clock) as provider:
        matrix = await provider.matrix([DEPOT, ZONE_A])

    assert (matrix.source, matrix.degraded) == ("straight_line", True)
    assert matrix.reason is not None
    assert matrix.reason.startswith("OSRM unreachable: ConnectError")


# Circuit breaker


async def test_breaker_opens_after_three_failures_and_spares_the_server(fake_osrm: FakeOsrm, clock: FakeClock) -> None:
    fake_osrm.mode = "error"
    short_circuited_before = travel_requests("osrm", "breaker_open")

    async with osrm(fake_osrm.base_url, clock) as provider:
        for _ in range(3):
            await provider.matrix([DEPOT, ZONE_A])
        assert breaker_gauge() == 1.0
        skipped = [await provider.matrix([DEPOT, ZONE_A]) for _ in range(2)]

    assert len(fake_osrm.requests) == 3
    assert all(matrix.degraded and matrix.reason and "circuit breaker is open" in matrix.reason for matrix in skipped)
    assert travel_requests("osrm", "breaker_open") == short_circuited_before + 2


async def test_after_the_reset_time_one_trial_succeeds_and_closes_the_breaker(
    fake_osrm: FakeOsrm, clock: FakeClock
) -> None:
    fake_osrm.mode = "error"
    async with osrm(fake_osrm.base_url, clock) as provider:
        for _ in range(3):
            await provider.matrix([DEPOT, ZONE_A])
        fake_osrm.mode = "ok"
        clock.advance(29.9)
        still_open = await provider.matrix([DEPOT, ZONE_A])
        clock.advance(0.1)
        trial = await provider.matrix([DEPOT, ZONE_A])
        after = await provider.matrix([DEPOT, ZONE_A])

    assert still_open.degraded
    assert (trial.source, trial.degraded) == ("osrm", False)
    assert (after.source, after.degraded) == ("osrm", False)
    assert len(fake_osrm.requests) == 5
    assert breaker_gauge() == 0.0


async def test_a_failed_trial_opens_the_breaker_for_another_reset_time(fake_osrm: FakeOsrm, clock: FakeClock) -> None:
    fake_osrm.mode = "error"
    async with osrm(fake_osrm.base_url, clock) as provider:
        for _ in range(3):
            await provider.matrix([DEPOT, ZONE_A])
        clock.advance(30.0)
        await provider.matrix([DEPOT, ZONE_A])  # the trial, failing
        clock.advance(29.0)
        await provider.matrix([DEPOT, ZONE_A])

    assert len(fake_osrm.requests) == 4
    assert breaker_gauge() == 1.0


async def test_a_success_resets_the_count_of_consecutive_failures(fake_osrm: FakeOsrm, clock: FakeClock) -> None:
    async with osrm(fake_osrm.base_url, clock) as provider:
        for mode in ("error", "error", "ok", "error", "error"):
            fake_osrm.mode = mode
            await provider.matrix([DEPOT, ZONE_A])
        fake_osrm.mode = "ok"
        matrix = await provider.matrix([DEPOT, ZONE_A])

    assert not matrix.degraded
    assert len(fake_osrm.requests) == 6


async def test_a_cancelled_trial_leaves_the_next_caller_to_try(fake_osrm: FakeOsrm, clock: FakeClock) -> None:
    fake_osrm.mode = "error"
    async with osrm(fake_osrm.base_url, clock) as provider:
        for _ in range(3):
            await provider.matrix([DEPOT, ZONE_A])
        clock.advance(30.0)
        fake_osrm.mode = "slow"
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):  # the caller gives up before the provider's own 2 s timeout
                await provider.matrix([DEPOT, ZONE_A])
        fake_osrm.mode = "ok"
        matrix = await provider.matrix([DEPOT, ZONE_A])

    assert (matrix.source, matrix.degraded) == ("osrm", False)
    assert len(fake_osrm.requests) == 5


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """Read through a call: mypy would otherwise keep the first asserted state and call later asserts unreachable."""
    return breaker.state


def test_half_open_breaker_admits_one_trial_at_a_time(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_seconds=30.0, clock=clock)
    for _ in range(3):
        assert breaker.allow_request()
        breaker.record_failure()
    assert state_of(breaker) is BreakerState.OPEN
    assert not breaker.allow_request()

    clock.advance(30.0)

    assert breaker.allow_request()
    assert state_of(breaker) is BreakerState.HALF_OPEN
    assert not breaker.allow_request()
    breaker.record_success()
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.allow_request()


def test_an_abandoned_trial_frees_the_half_open_slot(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=30.0, clock=clock)
    breaker.record_failure()
    clock.advance(30.0)
    assert breaker.allow_request()

    breaker.abandon()

    assert breaker.allow_request()
    assert not breaker.allow_request()
