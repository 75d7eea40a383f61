"""``make bench-tracking``: drivers' GPS positions through the gateway, and how soon the office's map moves.

Starts its own platform in a temp dir (harness.py: Postgres, Redis, the flag, customer, order, routing, tracking
and gateway services, demo data), makes a realistic day for today through the API (loadtests/realistic_day.py),
plans and publishes it, so every batch runs arrival detection and next-stop ETAs against a real route, then:

1. Ingest: simulated phones ``POST /api/v1/drivers/me/positions`` one batch after another (closed loop) for
   ``--duration`` seconds after a ``--warmup``, first with ``--batch`` fixes per request (a phone syncing every few
   minutes), then with one fix per request (a phone online, sending each fix as it is taken). There are only the 8
   demo driver logins, so the phones are the 8 drivers × ``--phones-per-driver``: each phone sends its own device
   times, and phones of one driver queue behind each other on that driver's lock in the tracking service (a real
   driver has one phone). The phones run in ``--ingest-processes`` aiohttp client processes.
2. Live: ``--watchers`` WebSocket clients on ``/api/v1/live`` as the dispatcher, in ``--watch-processes``
   processes, while the 8 drivers send one fix each at ``--live-rate`` positions/s in all; for every position and
   every client, the time from the POST being sent, and from its answer being read, to that client reading the
   position (or a later one of that driver: positions are coalesced per driver for slow clients).

Prints figures with the CPU each process used; fails only on real errors (a non-2xx answer, a failed request, a
fix stored twice, a position a client never received, a dead process), never on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx
from websockets.asyncio.client import connect

from loadtests.harness import BenchError, Platform, Running, cpu_snapshot, login, run_bench, start_platform
from loadtests.loadgen import percentile
from loadtests.realistic_day import make_day
from services.platform import clock
from services.platform.clock import TAIPEI

DATABASE = "luckygas_bench_tracking"
DEPOT = (22.7553, 121.1504)
DRIVERS = tuple(f"driver{number:02d}" for number in range(1, 9))
POSITIONS = "/api/v1/drivers/me/positions"
AIM_POSITIONS_PER_SECOND = 5000.0
AIM_ACK_P99_MS = 100.0
AIM_LIVE_P99_MS = 250.0
SERVICES = ["gateway", "tracking", "postgres", "redis"]
# Device times of one driver's phones interleave this far apart, so no two fixes of a driver share a time.
STEP = timedelta(milliseconds=2)
SETTLE_SECONDS = 1.0
DRAIN_SECONDS = 5.0


# --- Ingest: one client process of phones --------------------------------------------------------------------------


@dataclass(frozen=True)
class Phones:
    """What one ingest process is told: its phones, the round's shape, and when to start (wall clock)."""

    gateway: str
    tokens: dict[str, str]  # driver → access token
    phones: list[tuple[str, int]]  # (driver, the phone's slot among that driver's phones)
    phones_per_driver: int
    fixes_per_batch: int
    first_time: datetime  # device time of fix 0 of every phone
    start_at: float  # clock.timestamp() at which every process starts its phones
    warmup: float
    duration: float
    timeout: float
    round_name: str


def fix(latitude: float, longitude: float, moment: datetime) -> dict[str, Any]:
    return {
        "latitude": round(latitude, 6),
        "longitude": round(longitude, 6),
        "accuracy_m": 8.0,
        "speed_mps": 7.5,
        "heading_deg": 10.0,
        "battery": 0.7,
        "device_time": moment.isoformat(),
    }


async def phone(
    session: aiohttp.ClientSession, shape: Phones, driver: str, slot: int, started: float, result: dict[str, Any]
) -> None:
    """One phone, closed loop: a batch, its answer, the next batch. Moves north from the depot ~10 m a fix."""
    headers = {"Authorization": f"Bearer {shape.tokens[driver]}"}
    measure_from, measure_until = started + shape.warmup, started + shape.warmup + shape.duration
    count = 0
    number = 0
    while time.perf_counter() < measure_until:
        fixes = []
        for _ in range(shape.fixes_per_batch):
            moment = shape.first_time + STEP * (count * shape.phones_per_driver + slot)
            fixes.append(fix(DEPOT[0] + 0.00009 * (count % 5000), DEPOT[1] + 0.0002 * slot, moment))
            count += 1
        body = {"batch_id": f"{shape.round_name}-{slot}-{number}", "fixes": fixes}
        number += 1
        began = time.perf_counter()
        try:
            async with session.post(POSITIONS, json=body, headers=headers) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            status, text = 0, f"{type(error).__name__}: {error}"
        ended = time.perf_counter()
        result["requests"] += 1
        result["sent_fixes"] += len(fixes)
        if status != 200:
            result["errors"][str(status)] = result["errors"].get(str(status), 0) + 1
            result["error_samples"].setdefault(str(status), text[:300])
            continue
        answer = json.loads(text)
        result["stored"] += answer["stored"]
        result["duplicates"] += answer["duplicates"]
        result["arrivals"] += len(answer["arrivals"])
        if began >= measure_from and ended <= measure_until:
            result["latencies"].append(ended - began)
            result["fixes"] += len(fixes)


async def run_phones(shape: Phones) -> dict[str, Any]:
    result: dict[str, Any] = {
        "latencies": [],
        "fixes": 0,
        "requests": 0,
        "sent_fixes": 0,
        "stored": 0,
        "duplicates": 0,
        "arrivals": 0,
        "errors": {},
        "error_samples": {},
    }
    connector = aiohttp.TCPConnector(limit=len(shape.phones))
    timeout = aiohttp.ClientTimeout(total=shape.timeout)
    cpu = time.process_time()
    async with aiohttp.ClientSession(shape.gateway, connector=connector, timeout=timeout) as session:
        await asyncio.sleep(max(0.0, shape.start_at - clock.timestamp()))
        started = time.perf_counter()
        await asyncio.gather(*(phone(session, shape, driver, slot, started, result) for driver, slot in shape.phones))
    result["cpu_s"] = time.process_time() - cpu
    return result


def ingest_process(shape: Phones, results: multiprocessing.Queue[dict[str, Any]]) -> None:
    try:
        import uvloop
    except ImportError:  # the plain asyncio loop works, with more client overhead
        results.put(asyncio.run(run_phones(shape)))
    else:
        results.put(uvloop.run(run_phones(shape)))


@dataclass
class Ingest:
    name: str
    fixes_per_batch: int
    phones: int
    processes: int
    warmup: float
    duration: float
    latencies: list[float]
    fixes: int  # fixes in batches acknowledged inside the measured window
    requests: int  # every request of the round, warm-up included
    sent_fixes: int
    stored: int
    duplicates: int
    arrivals: int
    errors: dict[str, int]
    error_samples: dict[str, str]
    client_cpu_s: float
    cpu: dict[str, float]

    @property
    def positions_per_second(self) -> float:
        return self.fixes / self.duration

    @property
    def batches_per_second(self) -> float:
        return len(self.latencies) / self.duration


def run_ingest(
    platform: Platform,
    running: Running,
    tokens: dict[str, str],
    arguments: argparse.Namespace,
    *,
    name: str,
    fixes_per_batch: int,
    first_time: datetime,
) -> Ingest:
    phones = [(driver, slot) for slot in range(arguments.phones_per_driver) for driver in DRIVERS]
    count = min(arguments.ingest_processes, len(phones))
    start_at = clock.timestamp() + 2.0  # every process has started and connected its session by then
    shapes = [
        Phones(
            gateway=running.gateway,
            tokens=tokens,
            phones=phones[index::count],
            phones_per_driver=arguments.phones_per_driver,
            fixes_per_batch=fixes_per_batch,
            first_time=first_time,
            start_at=start_at,
            warmup=arguments.warmup,
            duration=arguments.duration,
            timeout=arguments.timeout,
            round_name=name,
        )
        for index in range(count)
    ]
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[dict[str, Any]] = context.Queue()
    processes = [context.Process(target=ingest_process, args=(shape, results), daemon=True) for shape in shapes]
    for process in processes:
        process.start()
    before = cpu_snapshot(platform, SERVICES)
    try:
        collected = [
            results.get(timeout=arguments.warmup + arguments.duration + arguments.timeout + 60) for _ in shapes
        ]
    except Exception as error:  # queue.Empty: a client process died or hung
        raise BenchError(f"an ingest client process gave no result: {error!r}") from error
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    after = cpu_snapshot(platform, SERVICES)
    platform.check_alive()
    errors: dict[str, int] = defaultdict(int)
    samples: dict[str, str] = {}
    for result in collected:
        for kind, number in result["errors"].items():
            errors[kind] += number
        samples.update(result["error_samples"])
    return Ingest(
        name=name,
        fixes_per_batch=fixes_per_batch,
        phones=len(phones),
        processes=count,
        warmup=arguments.warmup,
        duration=arguments.duration,
        latencies=[latency for result in collected for latency in result["latencies"]],
        fixes=sum(result["fixes"] for result in collected),
        requests=sum(result["requests"] for result in collected),
        sent_fixes=sum(result["sent_fixes"] for result in collected),
        stored=sum(result["stored"] for result in collected),
        duplicates=sum(result["duplicates"] for result in collected),
        arrivals=sum(result["arrivals"] for result in collected),
        errors=dict(errors),
        error_samples=samples,
        client_cpu_s=sum(result["cpu_s"] for result in collected),
        cpu={name: after[name] - before[name] for name in after},
    )


# --- Live: WebSocket clients in their own processes ----------------------------------------------------------------


async def watch(url: str, clients: int, ready: ProcessEvent, stop: ProcessEvent) -> dict[str, Any]:
    """``clients`` connections; each notes every driver.position it reads: (driver, device time, monotonic)."""
    seen: list[list[tuple[str, str, float]]] = [[] for _ in range(clients)]
    connected = [asyncio.Event() for _ in range(clients)]

    async def client(index: int) -> None:
        async with connect(url, max_queue=None, open_timeout=30) as websocket:
            async for raw in websocket:
                arrived = time.monotonic()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "driver.position":
                    payload = message["payload"]
                    seen[index].append((payload["driver"], payload["device_time"], arrived))
                elif kind == "live.ready":
                    connected[index].set()

    cpu = time.process_time()
    tasks = [asyncio.create_task(client(index)) for index in range(clients)]
    all_ready: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*(event.wait() for event in connected)))
    waiting: list[asyncio.Future[Any]] = [*tasks, all_ready]
    await asyncio.wait(waiting, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    failed = [task for task in tasks if task.done()]
    if failed or not all_ready.done():
        all_ready.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        reason = repr(failed[0].exception()) if failed else "no live.ready within 60 s"
        return {"error": f"a WebSocket client failed: {reason}"}
    ready.set()
    await asyncio.to_thread(stop.wait)
    lost = [task for task in tasks if task.done()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if lost:
        return {"error": f"{len(lost)} WebSocket client(s) lost their connection: {lost[0].exception()!r}"}
    return {"seen": seen, "cpu_s": time.process_time() - cpu}


def watch_process(
    url: str, clients: int, ready: ProcessEvent, stop: ProcessEvent, results: multiprocessing.Queue[dict[str, Any]]
) -> None:
    try:
        import uvloop
    except ImportError:
        results.put(asyncio.run(watch(url, clients, ready, stop)))
    else:
        results.put(uvloop.run(watch(url, clients, ready, stop)))


@dataclass
class Live:
    watchers: int
    processes: int
    rate: float
    duration: float
    posted: int
    after_send: list[float]
    after_answer: list[float]
    before_answer: int  # (position, client) pairs read before the POST's answer was
    coalesced: int  # (position, client) pairs where the client got a later position of that driver instead
    missing: int  # (position, client) pairs never read, nor a later position of that driver
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: dict[str, str] = field(default_factory=dict)
    watcher_cpu_s: float = 0.0
    sender_cpu_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)


async def send_live(
    gateway: str, tokens: dict[str, str], rate: float, duration: float
) -> tuple[list[tuple[str, datetime, float, float]], dict[str, int], dict[str, str]]:
    """The 8 drivers, one fix per request, ``rate`` positions/s in all, evenly spread; device times are now."""
    posted: list[tuple[str, datetime, float, float]] = []
    errors: dict[str, int] = defaultdict(int)
    samples: dict[str, str] = {}
    interval = len(DRIVERS) / rate

    async def driver(client: httpx.AsyncClient, index: int, username: str) -> None:
        headers = {"Authorization": f"Bearer {tokens[username]}"}
        start = time.monotonic() + index * interval / len(DRIVERS)
        number = 0
        while True:
            due = start + number * interval
            if due > start + duration:
                return
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            moment = clock.utc_now()
            body = {
                "batch_id": f"live-{number}",
                "fixes": [fix(DEPOT[0] - 0.0001 * number, DEPOT[1] + 0.001 * index, moment)],
            }
            number += 1
            sent = time.monotonic()
            try:
                answer = await client.post(POSITIONS, json=body, headers=headers)
            except httpx.HTTPError as error:
                errors[type(error).__name__] += 1
                samples.setdefault(type(error).__name__, str(error)[:300])
                continue
            answered = time.monotonic()
            if answer.status_code != 200:
                errors[str(answer.status_code)] += 1
                samples.setdefault(str(answer.status_code), answer.text[:300])
                continue
            posted.append((username, moment, sent, answered))

    async with httpx.AsyncClient(base_url=gateway, timeout=10) as client:
        await asyncio.gather(*(driver(client, index, username) for index, username in enumerate(DRIVERS)))
    return posted, dict(errors), samples


def run_live(
    platform: Platform, running: Running, token: str, tokens: dict[str, str], arguments: argparse.Namespace
) -> Live:
    url = running.gateway.replace("http://", "ws://", 1) + "/api/v1/live?" + urlencode({"access_token": token})
    count = max(1, min(arguments.watch_processes, arguments.watchers))
    sizes = [arguments.watchers // count + (index < arguments.watchers % count) for index in range(count)]
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[dict[str, Any]] = context.Queue()
    readies = [context.Event() for _ in sizes]
    stop = context.Event()
    processes = [
        context.Process(target=watch_process, args=(url, size, ready, stop, results), daemon=True)
        for size, ready in zip(sizes, readies, strict=True)
    ]
    for process in processes:
        process.start()
    try:
        deadline = time.monotonic() + 90
        while not all(ready.is_set() for ready in readies):
            if not results.empty():
                raise BenchError(str(results.get().get("error", "a WebSocket process ended early")))
            if time.monotonic() > deadline:
                raise BenchError(f"{arguments.watchers} WebSocket clients were not all ready within 90 s")
            time.sleep(0.1)
        time.sleep(SETTLE_SECONDS)
        before = cpu_snapshot(platform, SERVICES)
        sender_cpu = time.process_time()
        posted, errors, samples = asyncio.run(
            send_live(running.gateway, tokens, arguments.live_rate, arguments.live_duration)
        )
        sender_cpu = time.process_time() - sender_cpu
        time.sleep(DRAIN_SECONDS)  # the last positions reach every client
        after = cpu_snapshot(platform, SERVICES)
        stop.set()
        collected = [results.get(timeout=120) for _ in processes]
    finally:
        stop.set()
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    platform.check_alive()
    for result in collected:
        if "error" in result:
            raise BenchError(result["error"])
    live = Live(
        watchers=arguments.watchers,
        processes=count,
        rate=arguments.live_rate,
        duration=arguments.live_duration,
        posted=len(posted),
        after_send=[],
        after_answer=[],
        before_answer=0,
        coalesced=0,
        missing=0,
        errors=errors,
        error_samples=samples,
        watcher_cpu_s=sum(result["cpu_s"] for result in collected),
        sender_cpu_s=sender_cpu,
        cpu={name: after[name] - before[name] for name in after},
    )
    for result in collected:
        for seen in result["seen"]:
            by_driver: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
            for driver, moment, arrived in seen:
                by_driver[driver].append((datetime.fromisoformat(moment), arrived))
            for driver, moment, sent, answered in posted:
                read = next(((at, seen_time) for seen_time, at in by_driver[driver] if seen_time >= moment), None)
                if read is None:
                    live.missing += 1
                    continue
                at, seen_time = read
                live.coalesced += seen_time != moment
                live.before_answer += at < answered
                live.after_send.append(at - sent)
                live.after_answer.append(at - answered)
    return live


# --- Set-up: drivers logged in, a published day for today ----------------------------------------------------------


def log_in_drivers(gateway: str, password: str) -> dict[str, str]:
    tokens = {}
    for driver in DRIVERS:
        answer = httpx.post(
            f"{gateway}/api/v1/auth/login", json={"username": driver, "password": password}, timeout=10.0
        )
        if answer.status_code != 200:
            raise BenchError(f"login as {driver} answered {answer.status_code}: {answer.text[:300]}")
        tokens[driver] = str(answer.json()["access_token"])
    return tokens


def publish_today(gateway: str, token: str, tokens: dict[str, str]) -> str:
    """A realistic day for today, planned (5 s) and published; waits until tracking knows every route."""
    today = clock.taipei_now().date()
    office = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=gateway, timeout=60) as client:
        orders = make_day(client, office, today)
        planned = client.post(
            "/api/v1/plans",
            json={"date": today.isoformat(), "time_budget_seconds": 5},
            headers={**office, "Idempotency-Key": f"bench-tracking-{today}"},
        )
        if planned.status_code != 201:
            raise BenchError(f"planning today answered {planned.status_code}: {planned.text[:500]}")
        published = client.post(f"/api/v1/plans/{planned.json()['id']}/publish", headers=office)
        if published.status_code != 200:
            raise BenchError(f"publishing answered {published.status_code}: {published.text[:500]}")
        routes = {route["driver"]: len(route["stops"]) for route in published.json()["routes"]}
        deadline = time.monotonic() + 30
        for driver in routes:
            while (
                client.get(
                    "/api/v1/drivers/me/progress", headers={"Authorization": f"Bearer {tokens[driver]}"}
                ).status_code
                != 200
            ):
                if time.monotonic() > deadline:
                    raise BenchError(f"tracking never learnt {driver}'s published route")
                time.sleep(0.2)
    return (
        f"{sum(routes.values())} of {len(orders)} orders for today ({today}) on {len(routes)} published routes "
        f"({', '.join(f'{driver} {stops}' for driver, stops in sorted(routes.items()))} stops)"
    )


# --- The run ------------------------------------------------------------------------------------------------------


@dataclass
class Measured:
    day: str = ""
    ingest: list[Ingest] = field(default_factory=list)
    live: Live | None = None
    load_before: float = 0.0


def bench(root: Path, platform: Platform, arguments: argparse.Namespace) -> Measured:
    measured = Measured()
    running = start_platform(platform, DATABASE, refill_history=False)
    token = login(running.gateway, running.password)
    tokens = log_in_drivers(running.gateway, running.password)
    print("setting up: a realistic day for today, planned and published …", flush=True)
    measured.day = publish_today(running.gateway, token, tokens)
    print(f"  {measured.day}")
    if hasattr(os, "getloadavg"):
        measured.load_before = os.getloadavg()[0]
    # Today's device times, an hour back and on, each round its own span; the live round's are the real time.
    now = clock.utc_now()
    midnight = now.astimezone(TAIPEI).replace(hour=0, minute=0, second=0, microsecond=0)
    first = max(now - timedelta(minutes=60), midnight + timedelta(seconds=1))
    rounds = (("batched", arguments.batch), ("single", 1))
    for number, (name, size) in enumerate(rounds):
        print(
            f"ingest: {len(DRIVERS) * arguments.phones_per_driver} phones, {size} fix(es) per request, "
            f"{arguments.duration:g} s after {arguments.warmup:g} s warm-up …",
            flush=True,
        )
        start = first + (now - first) * number / len(rounds)
        measured.ingest.append(
            run_ingest(platform, running, tokens, arguments, name=name, fixes_per_batch=size, first_time=start)
        )
    print(
        f"live: {arguments.watchers} WebSocket clients, {arguments.live_rate:g} positions/s for "
        f"{arguments.live_duration:g} s …",
        flush=True,
    )
    measured.live = run_live(platform, running, token, tokens, arguments)
    return measured


# --- Output -------------------------------------------------------------------------------------------------------


def figures(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    if not ordered:
        return "no samples"
    return (
        f"p50 {percentile(ordered, 0.50):6.1f}  p95 {percentile(ordered, 0.95):6.1f}  "
        f"p99 {percentile(ordered, 0.99):6.1f}  max {ordered[-1] * 1000:7.1f} ms"
    )


def aim_line(name: str, value: float, aim: float, *, at_least: bool = False) -> str:
    meets = value >= aim if at_least else value <= aim
    unit = "" if at_least else " ms"
    relation = ">=" if at_least else "<="
    verdict = "meets the aim" if meets else ("below the aim" if at_least else "above the aim")
    return f"  {name}: {value:.0f}{unit}   aim {relation} {aim:.0f}{unit} ({verdict})"


def cpu_text(cpu: dict[str, float], clients: dict[str, float]) -> str:
    return " ".join(f"{name}={seconds:.1f}" for name, seconds in {**clients, **cpu}.items())


def report(measured: Measured) -> int:
    print()
    print("bench-tracking")
    print(
        f"  machine:  {os.cpu_count()} CPU(s) shared by the client processes, the gateway, the tracking, routing,"
        " order, customer and flag services, Postgres and Redis: absolute figures are this machine's"
    )
    if hasattr(os, "getloadavg"):
        print(
            f"  load:     load average {measured.load_before:.1f} before the rounds, {os.getloadavg()[0]:.1f} at the"
            " end (other work skews the figures)"
        )
    print(f"  day:      {measured.day}; arrival detection and next-stop ETAs run on every batch")
    print("  path:     gateway (JWT, pydantic) → gRPC RecordPositions → tracking (driver lock, batch id claim, one")
    print("            INSERT … unnest … ON CONFLICT, arrivals, latest, commit) → Postgres; then Redis (Lua: latest,")
    print("            GEO, PUBLISH positions.live) → gateway's subscriber → each office WebSocket")
    print("  postgres: fsync and synchronous commit off (throw-away data)")
    errors = 0
    print()
    print("1. ingest: POST /api/v1/drivers/me/positions, closed loop (mean ack ≈ phones / requests/s)")
    for ingest in measured.ingest:
        print(
            f"  {ingest.fixes_per_batch:>2} fix(es)/request, {ingest.phones} phones (8 drivers × "
            f"{ingest.phones // len(DRIVERS)}), {ingest.processes} client process(es):"
        )
        print(
            f"     {ingest.positions_per_second:8.0f} positions/s  {ingest.batches_per_second:7.0f} requests/s   "
            f"ack {figures(ingest.latencies)}"
        )
        print(
            f"     stored {ingest.stored:,} of {ingest.sent_fixes:,} fixes sent (warm-up included), duplicates "
            f"{ingest.duplicates}, arrivals {ingest.arrivals}, errors {sum(ingest.errors.values())}"
        )
        print(f"     CPU s in the round: {cpu_text(ingest.cpu, {'clients': ingest.client_cpu_s})}")
        if ingest.requests:
            per_request = {name: seconds * 1000 / ingest.requests for name, seconds in ingest.cpu.items()}
            print(
                "     CPU ms per request (warm-up included): "
                + ", ".join(f"{name} {milliseconds:.2f}" for name, milliseconds in per_request.items())
            )
        busy = ingest.client_cpu_s / ((ingest.warmup + ingest.duration) * ingest.processes)
        print(
            f"     client processes {busy:.0%} busy"
            + (" (near one core each: they may limit the figures; see --ingest-processes)" if busy > 0.8 else "")
        )
        for kind, sample in ingest.error_samples.items():
            print(f"     {kind}: {sample}")
        # Every fix has its own device time: a duplicate is a fix stored twice or mixed up with another.
        errors += sum(ingest.errors.values()) + ingest.duplicates
    live = measured.live
    if live is not None:
        print()
        print(
            f"2. live: {live.watchers} office WebSocket clients (dispatcher) in {live.processes} process(es); the 8"
            f" drivers post one fix each, {live.rate:g} positions/s in all, for {live.duration:g} s"
        )
        print(f"  posted {live.posted} positions; {len(live.after_send):,} (position, client) readings")
        print(f"  POST sent → client read     {figures(live.after_send)}")
        print(f"  POST answered → client read {figures([max(0.0, s) for s in live.after_answer])}")
        print(
            f"  read before the answer: {live.before_answer:,} (tracking publishes before it answers; counted as 0);"
            f" coalesced (a later position read instead): {live.coalesced:,}; never read: {live.missing:,}"
        )
        print(
            f"  CPU s in the round: {cpu_text(live.cpu, {'watchers': live.watcher_cpu_s, 'sender': live.sender_cpu_s})}"
        )
        for kind, sample in live.error_samples.items():
            print(f"  {kind}: {sample}")
        errors += live.missing + sum(live.errors.values())
    print()
    print("aims (reported, not asserted)")
    if measured.ingest:
        batched = measured.ingest[0]
        print(
            aim_line(
                f"positions/s at {batched.fixes_per_batch} fixes/request",
                batched.positions_per_second,
                AIM_POSITIONS_PER_SECOND,
                at_least=True,
            )
        )
        print(aim_line("ack p99", percentile(sorted(batched.latencies), 0.99), AIM_ACK_P99_MS))
    if live is not None:
        print(aim_line("live p99 from the POST sent", percentile(sorted(live.after_send), 0.99), AIM_LIVE_P99_MS))
    print(f"errors: {errors}")
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_tracking", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds of each ingest round")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    parser.add_argument("--batch", type=int, default=20, help="fixes per request in the batched round")
    parser.add_argument("--phones-per-driver", type=int, default=4, help="simulated phones per demo driver")
    parser.add_argument("--ingest-processes", type=int, default=1, help="client processes sending positions")
    parser.add_argument("--watchers", type=int, default=200, help="office WebSocket clients")
    parser.add_argument("--watch-processes", type=int, default=2, help="processes holding the WebSocket clients")
    parser.add_argument("--live-rate", type=float, default=8.0, help="positions/s the 8 drivers send in all")
    parser.add_argument("--live-duration", type=float, default=15.0, help="seconds of the live round")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a request counts as failed")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data and logs) after the run")
    arguments = parser.parse_args()
    if min(arguments.batch, arguments.phones_per_driver, arguments.ingest_processes, arguments.watchers) < 1:
        parser.error("--batch, --phones-per-driver, --ingest-processes and --watchers must be positive")
    if arguments.batch > 2000 or arguments.live_rate <= 0:
        parser.error("--batch is at most 2000 and --live-rate positive")
    run_bench("bench-tracking", arguments, bench, report)


if __name__ == "__main__":
    main()
