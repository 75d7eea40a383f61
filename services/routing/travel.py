"""Travel times between stops: the road engine (OSRM) in production, straight-line estimates when it cannot answer.

The solver needs a complete matrix for every plan, so a sick routing engine must never fail one: any failure of
OSRM (a timeout, a refused connection, an error status, an answer we cannot trust) returns the fallback's matrix
marked ``degraded`` with the reason. A circuit breaker stops asking OSRM for a while once it keeps failing, so a
dead engine costs one timeout every ``reset_seconds`` instead of one per plan.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, Literal, Protocol, Self

import httpx
from prometheus_client import Counter, Gauge

_log = logging.getLogger(__name__)

TravelSource = Literal["straight_line", "osrm"]
# One per matrix asked of a provider (not per HTTP request): ok, or why the fallback answered instead.
Outcome = Literal["ok", "timeout", "unreachable", "rejected", "malformed", "breaker_open"]

TRAVEL_REQUESTS = Counter(
    "luckygas_routing_travel_requests_total",
    "Travel matrices asked of each provider, by outcome (ok, timeout, unreachable, rejected, malformed, breaker_open).",
    ["source", "outcome"],
)
BREAKER_OPEN = Gauge(
    "luckygas_routing_travel_breaker_open",
    "1 while the OSRM circuit breaker keeps matrices off the network (open, or half-open awaiting a trial), else 0.",
)

# What a pair OSRM finds no road for costs. Green Island and Orchid Island belong to Taitung County but not to
# its road network; a straight-line guess would invent a road across the sea, so the pair keeps OSRM's verdict
# as a cost far beyond any shift (no feasible route uses it) that still sums over hundreds of legs without
# overflowing a solver's 64-bit integers.
UNREACHABLE_SECONDS = 1_000_000
UNREACHABLE_METRES = 10_000_000

EARTH_RADIUS_METRES = 6_371_008.8  # the mean radius; the detour factor's uncertainty dwarfs the choice

Matrix = tuple[tuple[int, ...], ...]


@dataclass(frozen=True, slots=True)
class Coordinate:
    """A WGS84 position in degrees."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        # Chained comparisons are False for NaN, so these also refuse NaN.
        if not -90.0 <= self.lat <= 90.0:
            raise ValueError(f"latitude must be within [-90, 90], got {self.lat}")
        if not -180.0 <= self.lon <= 180.0:
            raise ValueError(f"longitude must be within [-180, 180], got {self.lon}")


@dataclass(frozen=True)
class TravelMatrix:
    """Travel from point i to point j: ``durations[i][j]`` seconds and ``distances[i][j]`` metres.

    Road matrices need not be symmetric (one-way streets). ``degraded`` is True when the production provider
    failed and a fallback answered; ``reason`` says why. ``unreachable`` lists the (i, j) pairs the road engine
    found no road for; they hold UNREACHABLE_SECONDS and UNREACHABLE_METRES.
    """

    durations: Matrix
    distances: Matrix
    source: TravelSource
    degraded: bool = False
    reason: str | None = None
    unreachable: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        size = len(self.durations)
        if len(self.distances) != size or any(len(row) != size for row in (*self.durations, *self.distances)):
            raise ValueError("durations and distances must be square matrices of the same size")

    @property
    def size(self) -> int:
        return len(self.durations)


class TravelTimeProvider(Protocol):
    async def matrix(self, points: Sequence[Coordinate]) -> TravelMatrix:
        """Travel between every ordered pair of ``points``, indexed in their order."""
        ...


def haversine_metres(a: Coordinate, b: Coordinate) -> float:
    """Great-circle distance; the haversine form stays accurate for the short legs between neighbours."""
    lat_a, lat_b = math.radians(a.lat), math.radians(b.lat)
    half_chord = (
        math.sin((lat_b - lat_a) / 2) ** 2
        + math.cos(lat_a) * math.cos(lat_b) * math.sin(math.radians(b.lon - a.lon) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_METRES * math.asin(math.sqrt(min(1.0, half_chord)))


class StraightLineProvider:
    """Great-circle distance × a detour factor, driven at a constant average speed: needs nothing but arithmetic.

    The defaults are estimates for Taitung, to be checked against OSRM's answers or drivers' GPS tracks:

    - ``detour_factor=1.3``: on a perfect street grid the road distance averages 4/π ≈ 1.27 × the straight
      line (the mean of |cos θ| + |sin θ| over all directions). Central Taitung City is largely a grid, and the
      roads outside it bend more, so a round 1.3.
    - ``speed_kmh=30``: a door-to-door average for a delivery vehicle, not a cruising speed; every leg starts
      and ends at a standstill at a customer's door and passes town junctions and narrow lanes.

    The matrix is symmetric with a zero diagonal. It is computed on the event loop: about 30 ms for 250 points.
    """

    def __init__(self, detour_factor: float = 1.3, speed_kmh: float = 30.0) -> None:
        if not detour_factor >= 1.0:
            raise ValueError(f"detour_factor must be at least 1, got {detour_factor}")
        if not 0.0 < speed_kmh < math.inf:
            raise ValueError(f"speed_kmh must be positive, got {speed_kmh}")
        self.detour_factor = detour_factor
        self.speed_kmh = speed_kmh

    async def matrix(self, points: Sequence[Coordinate]) -> TravelMatrix:
        TRAVEL_REQUESTS.labels("straight_line", "ok").inc()
        return self.compute(points)

    def compute(self, points: Sequence[Coordinate]) -> TravelMatrix:
        size = len(points)
        metres_per_second = self.speed_kmh * 1000.0 / 3600.0
        durations = [[0] * size for _ in range(size)]
        distances = [[0] * size for _ in range(size)]
        for i in range(size):
            for j in range(i + 1, size):
                road_metres = haversine_metres(points[i], points[j]) * self.detour_factor
                distances[i][j] = distances[j][i] = round(road_metres)
                durations[i][j] = durations[j][i] = round(road_metres / metres_per_second)
        return TravelMatrix(_frozen(durations), _frozen(distances), "straight_line")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed → open after ``failure_threshold`` consecutive failures; open → one trial after ``reset_seconds``.

    While open, callers are told not to touch the network. Once ``reset_seconds`` have passed, the next caller
    gets the single trial (half-open) and everyone else still waits: its success closes the breaker, its failure
    opens it for another ``reset_seconds``. A success from any call closes it, since it proves the server
    answers. The clock is injectable so tests move time instead of sleeping. Not thread-safe: no method awaits,
    so it is consistent within one event loop.
    """

    def __init__(
        self, failure_threshold: int = 3, reset_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {failure_threshold}")
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        BREAKER_OPEN.set(0)

    @property
    def state(self) -> BreakerState:
        return self._state

    def allow_request(self) -> bool:
        """Whether this call may use the network; a True while not closed claims the half-open trial."""
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self.reset_seconds:
                return False
            self._state = BreakerState.HALF_OPEN
        if self._trial_in_flight:
            return False
        self._trial_in_flight = True
        return True

    def record_success(self) -> None:
        if self._state is not BreakerState.CLOSED:
            _log.info("travel circuit breaker closed: OSRM answered again")
        self._state = BreakerState.CLOSED
        self._consecutive_failures = 0
        self._trial_in_flight = False
        BREAKER_OPEN.set(0)

    def record_failure(self) -> None:
        if self._state is BreakerState.OPEN:
            return  # a call that started before the breaker opened; it is open already
        self._consecutive_failures += 1
        if self._state is BreakerState.HALF_OPEN or self._consecutive_failures >= self.failure_threshold:
            self._state = BreakerState.OPEN
            self._opened_at = self._clock()
            self._trial_in_flight = False
            BREAKER_OPEN.set(1)
            _log.warning(
                "travel circuit breaker opened: OSRM is skipped for %g s",
                self.reset_seconds,
                extra={"consecutive_failures": self._consecutive_failures},
            )

    def abandon(self) -> None:
        """A permitted call ended with no verdict (cancelled): free the trial so the next caller makes it."""
        self._trial_in_flight = False


class _OsrmFailure(Exception):
    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason[:300]


class OsrmTableProvider:
    """Road travel from an OSRM server's table service, split into blocks the server accepts.

    osrm-routed refuses a table whose sources × destinations exceed ``--max-table-size`` squared (100 by
    default) with ``TooBig``, so a larger matrix is asked for in square blocks of at most ``max_table_size``
    rows and columns; each request carries only its block's coordinates. Blocks are requested one after
    another, which keeps the load on a shared server bounded; ``timeout_seconds`` bounds the whole matrix,
    not each block, because it is the caller's wait before the fallback answers.

    A null cell (OSRM found no road) becomes UNREACHABLE_SECONDS / UNREACHABLE_METRES and is listed in
    ``unreachable``: the engine did answer, and replacing the pair with a straight line would invent a road.
    Every other failure answers with ``fallback`` marked degraded and never raises; only cancellation and the
    fallback's own errors propagate.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float,
        max_table_size: int = 100,
        breaker: CircuitBreaker,
        fallback: TravelTimeProvider,
        profile: str = "driving",
        client: httpx.AsyncClient | None = None,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if max_table_size < 1:
            raise ValueError(f"max_table_size must be at least 1, got {max_table_size}")
        if not 0.0 < timeout_seconds < math.inf:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds}")
        self._base_url = base_url.rstrip("/")
        self._timeout_seconds = timeout_seconds
        self._max_table_size = max_table_size
        self._breaker = breaker
        self._fallback = fallback
        self._profile = profile
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout_seconds)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this provider created it; a client passed in belongs to the caller."""
        if self._owns_client:
            await self._client.aclose()

    async def matrix(self, points: Sequence[Coordinate]) -> TravelMatrix:
        points = tuple(points)
        if len(points) < 2:
            # Nothing to route: the answer is known without asking the server.
            zeros = _frozen([[0] * len(points) for _ in points])
            return TravelMatrix(zeros, zeros, "osrm")
        if not self._breaker.allow_request():
            return await self._fall_back(points, "breaker_open", "OSRM circuit breaker is open after repeated failures")
        try:
            answer = await self._fetch(points)
        except _OsrmFailure as failure:
            self._breaker.record_failure()
            _log.warning(
                "OSRM travel matrix failed; the fallback answers",
                extra={"outcome": failure.outcome, "reason": failure.reason, "points": len(points)},
            )
            return await self._fall_back(points, failure.outcome, failure.reason)
        except BaseException:
            # Cancelled, or a bug here: no verdict on OSRM, but a claimed half-open trial must be freed.
            self._breaker.abandon()
            raise
        self._breaker.record_success()
        TRAVEL_REQUESTS.labels("osrm", "ok").inc()
        return answer

    async def _fall_back(self, points: Sequence[Coordinate], outcome: Outcome, reason: str) -> TravelMatrix:
        TRAVEL_REQUESTS.labels("osrm", outcome).inc()
        answer = await self._fallback.matrix(points)
        if answer.degraded and answer.reason:
            reason = f"{reason}; the fallback was degraded too: {answer.reason}"
        return dataclasses.replace(answer, degraded=True, reason=reason)

    async def _fetch(self, points: tuple[Coordinate, ...]) -> TravelMatrix:
        size = len(points)
        durations = [[0] * size for _ in range(size)]
        distances = [[0] * size for _ in range(size)]
        unreachable: list[tuple[int, int]] = []
        blocks = [
            range(start, min(start + self._max_table_size, size)) for start in range(0, size, self._max_table_size)
        ]
        try:
            async with asyncio.timeout(self._timeout_seconds):
                for rows in blocks:
                    for columns in blocks:
                        payload = await self._request_table(points, rows, columns)
                        block_durations, block_distances = _parse_table(payload, len(rows), len(columns))
                        for r, i in enumerate(rows):
                            for c, j in enumerate(columns):
                                seconds, metres = block_durations[r][c], block_distances[r][c]
                                if seconds is None or metres is None:
                                    unreachable.append((i, j))
                                    durations[i][j], distances[i][j] = UNREACHABLE_SECONDS, UNREACHABLE_METRES
                                else:
                                    durations[i][j], distances[i][j] = round(seconds), round(metres)
        except (TimeoutError, httpx.TimeoutException) as error:
            raise _OsrmFailure("timeout", f"OSRM gave no complete answer within {self._timeout_seconds:g} s") from error
        except httpx.TransportError as error:
            raise _OsrmFailure("unreachable", f"OSRM unreachable: {type(error).__name__}: {error}") from error
        except httpx.HTTPError as error:
            raise _OsrmFailure("malformed", f"OSRM answer unreadable: {type(error).__name__}: {error}") from error
        return TravelMatrix(_frozen(durations), _frozen(distances), "osrm", unreachable=tuple(unreachable))

    async def _request_table(self, points: tuple[Coordinate, ...], rows: range, columns: range) -> object:
        """One table request for the block rows × columns; returns the decoded JSON body of a 200 answer."""
        if rows == columns:
            # A diagonal block: every coordinate is both a source and a destination, OSRM's default.
            locations = [points[i] for i in rows]
            selection = ""
        else:
            locations = [points[i] for i in rows] + [points[j] for j in columns]
            sources = ";".join(str(k) for k in range(len(rows)))
            destinations = ";".join(str(k) for k in range(len(rows), len(rows) + len(columns)))
            selection = f"&sources={sources}&destinations={destinations}"
        # ; and , are sub-delimiters, legal unescaped in a path and a query, and the way OSRM documents them.
        coordinates = ";".join(f"{p.lon:.6f},{p.lat:.6f}" for p in locations)
        url = f"{self._base_url}/table/v1/{self._profile}/{coordinates}?annotations=duration,distance{selection}"
        response = await self._client.get(url, timeout=self._timeout_seconds)
        try:
            payload: object = response.json()
        except ValueError:  # not JSON, or not UTF-8
            payload = None
        if response.status_code != httpx.codes.OK:
            raise _OsrmFailure("rejected", f"OSRM answered HTTP {response.status_code}{_osrm_error(payload)}")
        return payload


def _parse_table(payload: object, rows: int, columns: int) -> tuple[list[list[Any]], list[list[Any]]]:
    """The durations and distances of an OSRM table answer, checked cell by cell; None marks no road."""
    if not isinstance(payload, dict):
        raise _OsrmFailure("malformed", "OSRM answer is not a JSON object")
    if payload.get("code") != "Ok":
        raise _OsrmFailure("rejected", f"OSRM answered{_osrm_error(payload) or ' without a code'}")
    return (
        _checked_grid(payload.get("durations"), rows, columns, "durations"),
        _checked_grid(payload.get("distances"), rows, columns, "distances"),
    )


def _checked_grid(value: object, rows: int, columns: int, name: str) -> list[list[Any]]:
    if not isinstance(value, list) or len(value) != rows:
        raise _OsrmFailure("malformed", f"OSRM {name} is not a list of {rows} rows")
    for row in value:
        if not isinstance(row, list) or len(row) != columns:
            raise _OsrmFailure("malformed", f"OSRM {name} has a row that is not a list of {columns} values")
        for cell in row:
            if cell is None:
                continue
            # bool is an int to Python but never a travel time; NaN and infinity fail the range check.
            if isinstance(cell, bool) or not isinstance(cell, int | float) or not 0 <= cell < math.inf:
                raise _OsrmFailure("malformed", f"OSRM {name} holds {cell!r}, not a non-negative number")
    return value


def _osrm_error(payload: object) -> str:
    """' <code>: <message>' from an OSRM error body, or '' when the body is not one."""
    if not isinstance(payload, dict) or not isinstance(payload.get("code"), str):
        return ""
    message = payload.get("message")
    return f" {payload['code']}" + (f": {message}" if isinstance(message, str) else "")


def _frozen(rows: list[list[int]]) -> Matrix:
    return tuple(tuple(row) for row in rows)
