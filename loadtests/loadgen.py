"""Closed-loop HTTP load generator: N keep-alive connections GET random ids and report latency as JSON.

Run as its own process so its CPU use is not mixed into the servers'::

    python -m loadtests.loadgen --url-template 'http://127.0.0.1:8000/api/v1/customers/{id}' \
        --ids-file ids.txt --concurrency 100 --duration 10 --warmup 2 --header 'Authorization: Bearer …'

Each of the ``--concurrency`` workers owns one connection and sends its next request as soon as the previous
answer is read, so the figures are throughput at that concurrency and the latency seen under it. Requests that
end during the warm-up or after the measured window are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ERROR_SAMPLES = 3


@dataclass
class Recorder:
    measure_from: float
    measure_until: float
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)

    def record(self, started: float, finished: float, kind: str | None, body: str = "") -> None:
        if started < self.measure_from or finished > self.measure_until:
            return
        if kind is None:
            self.latencies.append(finished - started)
            return
        self.errors[kind] += 1
        if kind not in self.samples and len(self.samples) < ERROR_SAMPLES:
            self.samples[kind] = body[:300]


async def worker(session: aiohttp.ClientSession, urls: list[str], recorder: Recorder, rng: random.Random) -> None:
    clock = time.perf_counter
    while clock() < recorder.measure_until:
        url = rng.choice(urls)
        started = clock()
        try:
            async with session.get(url) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            recorder.record(started, clock(), type(error).__name__, str(error))
            continue
        finished = clock()
        if 200 <= status < 300:
            recorder.record(started, finished, None)
        else:
            recorder.record(started, finished, str(status), body.decode("utf-8", "replace"))


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list, in milliseconds."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1] * 1000


async def run(arguments: argparse.Namespace, urls: list[str]) -> dict[str, Any]:
    headers = dict(_parse_header(text) for text in arguments.header)
    connector = aiohttp.TCPConnector(limit=arguments.concurrency, force_close=False, enable_cleanup_closed=False)
    timeout = aiohttp.ClientTimeout(total=arguments.timeout)
    cpu_started = time.process_time()
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=timeout, auto_decompress=False
    ) as session:
        now = time.perf_counter()
        recorder = Recorder(now + arguments.warmup, now + arguments.warmup + arguments.duration)
        rng = random.Random(arguments.seed)  # nosec B311 # a seeded, repeatable request mix, not a secret
        workers = [worker(session, urls, recorder, random.Random(rng.random())) for _ in range(arguments.concurrency)]  # nosec B311 # each worker's share of the seeded request mix
        await asyncio.gather(*workers)
    ordered = sorted(recorder.latencies)
    return {
        "concurrency": arguments.concurrency,
        "duration_s": arguments.duration,
        "requests": len(ordered),
        "rps": len(ordered) / arguments.duration,
        "p50_ms": percentile(ordered, 0.50),
        "p95_ms": percentile(ordered, 0.95),
        "p99_ms": percentile(ordered, 0.99),
        "max_ms": ordered[-1] * 1000 if ordered else 0.0,
        "errors": sum(recorder.errors.values()),
        "error_kinds": dict(recorder.errors),
        "error_samples": recorder.samples,
        "loadgen_cpu_s": time.process_time() - cpu_started,
    }


def _parse_header(text: str) -> tuple[str, str]:
    name, separator, value = text.partition(":")
    if not separator:
        raise SystemExit(f"--header must look like 'Name: value', not {text!r}")
    return name.strip(), value.strip()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.loadgen", description=__doc__.splitlines()[0])
    parser.add_argument("--url-template", required=True, help="URL with an {id} placeholder")
    parser.add_argument("--ids-file", required=True, help="one id per line; each request picks one at random")
    parser.add_argument("--concurrency", type=int, default=100, help="connections, each with one request in flight")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a request counts as an error")
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    ids = [line.strip() for line in Path(arguments.ids_file).read_text().splitlines() if line.strip()]
    if not ids:
        raise SystemExit(f"{arguments.ids_file} holds no ids")
    urls = [arguments.url_template.format(id=identifier) for identifier in ids]
    try:
        import uvloop
    except ImportError:  # the plain asyncio loop works, with more client overhead
        result = asyncio.run(run(arguments, urls))
    else:
        result = uvloop.run(run(arguments, urls))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
