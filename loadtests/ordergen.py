"""Closed-loop order-creation load: N keep-alive connections POST /api/v1/orders and report latency as JSON.

Run as its own process so its CPU use is not mixed into the servers'::

    python -m loadtests.ordergen --gateway http://127.0.0.1:8000 --token … --customers-file ids.txt \
        --scheduled-date 2026-11-28 --concurrency 50 --duration 10 --warmup 2 --orders-file orders.jsonl

Each worker sends its next order as soon as the previous answer is read, each with an Idempotency-Key used once.
Latency figures count the orders started and answered inside the measured window; every order created (warm-up
and the last in-flight ones too) goes to ``--orders-file`` as ``[order id, wall-clock time of its 201, measured]``
so the caller can check each one's event on the live feed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from loadtests.loadgen import percentile
from services.platform import clock

ERROR_SAMPLES = 3


@dataclass
class Recorder:
    measure_from: float
    measure_until: float
    latencies: list[float] = field(default_factory=list)
    created: list[tuple[str, float, bool]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)

    def measured(self, started: float, finished: float) -> bool:
        return self.measure_from <= started and finished <= self.measure_until

    def error(self, kind: str, body: str) -> None:
        # Unlike latency, an error counts whenever it happens: warm-up errors are errors too.
        self.errors[kind] += 1
        if kind not in self.samples and len(self.samples) < ERROR_SAMPLES:
            self.samples[kind] = body[:300]


def order_body(customer_id: str, scheduled_date: str) -> dict[str, Any]:
    """Cash (no credit limit), marked additional: a run takes more orders than there are customers."""
    return {
        "customer_id": customer_id,
        "scheduled_date": scheduled_date,
        "window": {"start": "09:00", "end": "12:00"},
        "items": [{"product": "cylinder-20-regular", "quantity": 2}],
        "additional": True,
        "payment_method": "cash",
        "notes": "bench-orders",
    }


async def worker(
    session: aiohttp.ClientSession,
    url: str,
    customers: list[str],
    scheduled_date: str,
    recorder: Recorder,
    rng: random.Random,
) -> None:
    ticks = time.perf_counter
    while ticks() < recorder.measure_until:
        body = json.dumps(order_body(rng.choice(customers), scheduled_date))
        headers = {"Idempotency-Key": str(uuid.uuid4())}  # random, not from rng: unique across rounds too
        started = ticks()
        try:
            async with session.post(url, data=body, headers=headers) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            recorder.error(type(error).__name__, str(error))
            continue
        finished, answered_at = ticks(), clock.timestamp()
        if status != 201:
            recorder.error(str(status), raw.decode("utf-8", "replace"))
            continue
        measured = recorder.measured(started, finished)
        if measured:
            recorder.latencies.append(finished - started)
        recorder.created.append((json.loads(raw)["id"], answered_at, measured))


async def run(
    arguments: argparse.Namespace, customers: list[str]
) -> tuple[dict[str, Any], list[tuple[str, float, bool]]]:
    """The figures, and every order created as ``(id, wall-clock time of its 201, measured)``."""
    headers = {"Authorization": f"Bearer {arguments.token}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=arguments.concurrency)
    timeout = aiohttp.ClientTimeout(total=arguments.timeout)
    cpu_started = time.process_time()
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as session:
        now = time.perf_counter()
        recorder = Recorder(now + arguments.warmup, now + arguments.warmup + arguments.duration)
        rng = random.Random(arguments.seed)  # nosec B311 # a seeded, repeatable order mix, not a secret
        url = f"{arguments.gateway}/api/v1/orders"
        await asyncio.gather(
            *(
                worker(session, url, customers, arguments.scheduled_date, recorder, random.Random(rng.random()))  # nosec B311 # each worker's share of the seeded order mix
                for _ in range(arguments.concurrency)
            )
        )
    ordered = sorted(recorder.latencies)
    figures = {
        "concurrency": arguments.concurrency,
        "duration_s": arguments.duration,
        "requests": len(ordered),
        "rps": len(ordered) / arguments.duration,
        "p50_ms": percentile(ordered, 0.50),
        "p95_ms": percentile(ordered, 0.95),
        "p99_ms": percentile(ordered, 0.99),
        "max_ms": ordered[-1] * 1000 if ordered else 0.0,
        "created": len(recorder.created),
        "errors": sum(recorder.errors.values()),
        "error_kinds": dict(recorder.errors),
        "error_samples": recorder.samples,
        "loadgen_cpu_s": time.process_time() - cpu_started,
    }
    return figures, recorder.created


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.ordergen", description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", required=True, help="the gateway's base URL")
    parser.add_argument("--token", required=True, help="a dispatcher's access token")
    parser.add_argument("--customers-file", required=True, help="one customer id per line; each order picks one")
    parser.add_argument("--scheduled-date", required=True, help="YYYY-MM-DD")
    parser.add_argument("--orders-file", required=True, help="where to write the created orders (JSON lines)")
    parser.add_argument("--concurrency", type=int, default=50, help="connections, each with one request in flight")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a request counts as an error")
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    customers = [line.strip() for line in Path(arguments.customers_file).read_text().splitlines() if line.strip()]
    if not customers:
        raise SystemExit(f"{arguments.customers_file} holds no ids")
    try:
        import uvloop
    except ImportError:  # the plain asyncio loop works, with more client overhead
        result, created = asyncio.run(run(arguments, customers))
    else:
        result, created = uvloop.run(run(arguments, customers))
    Path(arguments.orders_file).write_text("".join(json.dumps(order) + "\n" for order in created))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
