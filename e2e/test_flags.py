"""Flags on the embedded platform.

- A kill through the gateway reaches every running service's in-process flags (target: within a second); with the
  flag service stopped they keep their last known flags, and they resync when it is back.
- An SRE slows one customer RPC through the gateway; the slowdown reaches the customer service (target: within a
  second), outlives the flag service being stopped, and is lifted by the kill switch (target: within a second).

How fast a change arrives is measured and printed against that one-second target (and benchmarked by `make
bench-flags`); the tests fail only when a change does not arrive at all within ARRIVES_WITHIN_SECONDS, a bound a
busy machine cannot reach. That still proves the push path: a service's in-process flags have no periodic resync
(services/platform/flags/local.py takes a full set only when its watch stream (re)connects), so a change that is not
pushed to a service never arrives there, however long the test waits. The one periodic resync is the flag service
comparing its own copy with the database (every 2 s, flags_resync_seconds), which would still push a change it
found; the kill test shows the change was pushed at commit by checking that every service received it on pub/sub,
which that resync never publishes to.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from luckygas.customer.v1 import customer_pb2, customer_pb2_grpc

from e2e.conftest import Platform, demo_platform, log_in
from services.local.programs import HOST, SERVICES, PlatformState
from services.local.supervision import Layout, SupervisorClient

pytestmark = pytest.mark.e2e

FLAG = "/api/v1/flags/fault.customer"
# Issue 4 §4: a flag change reaches every service within a second. Printed, not asserted (see the docstring).
PROPAGATION_TARGET_SECONDS = 1.0
ARRIVES_WITHIN_SECONDS = 30.0
# Several seconds, so that a faulted call (at least this long: a lower bound no load can break) and a call without
# the fault (under half of it) are told apart on a machine as busy as CI's can be.
INJECTED_SECONDS = 5.0
FAST_SECONDS = INJECTED_SECONDS / 2
# The gateway gives each call to a service 2 s (call_deadline_seconds), less than the fault, so GetCustomer is timed
# at the customer service itself, over gRPC, with a deadline that leaves room for the fault and a busy machine.
CALL_DEADLINE_SECONDS = 60.0
# Calls are started this often, each timed on its own, so a call already waiting out the fault does not hide the
# moment the change arrived; this is also the resolution of the printed propagation time.
PROBE_EVERY = 0.1
# Calls started once the change has shown, to check it holds for every later call.
CONFIRMING_CALLS = 5


@dataclass(frozen=True)
class Probe:
    """One GetCustomer call: when it started and how long it took to answer."""

    started: float  # monotonic
    seconds: float

    @property
    def answered(self) -> float:
        return self.started + self.seconds

    @property
    def slow(self) -> bool:
        return self.seconds >= INJECTED_SECONDS

    @property
    def fast(self) -> bool:
        return self.seconds < FAST_SECONDS


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One platform for this file: `up --seed demo` takes most of a minute."""
    with demo_platform(tmp_path_factory.mktemp("flags") / "luckygas") as running:
        yield running


@pytest.fixture(scope="module")
def sre(platform: Platform) -> dict[str, str]:
    with httpx.Client(base_url=platform.base_url, timeout=10) as client:
        return log_in(client, "sre")


@pytest.fixture(scope="module")
def office(platform: Platform) -> dict[str, str]:
    with httpx.Client(base_url=platform.base_url, timeout=10) as client:
        return log_in(client, "dispatcher")


@pytest.fixture(scope="module")
def customer(platform: Platform, office: dict[str, str]) -> dict[str, Any]:
    with httpx.Client(base_url=platform.base_url, timeout=10) as client:
        page = client.get("/api/v1/customers", params={"page_size": 1}, headers=office)
    assert page.status_code == 200, page.text
    assert page.json()["items"], "the demo data should have customers"
    return dict(page.json()["items"][0])


def customer_address(platform: Platform) -> str:
    state = PlatformState.load(Layout.at(platform.data_dir).state_path)
    assert state is not None, "a running platform has a state file"
    return f"{HOST}:{state.ports['customer_grpc']}"


async def _get_customer(customers: customer_pb2_grpc.CustomerServiceStub, customer_id: str) -> Probe:
    started = time.monotonic()
    found = await customers.GetCustomer(customer_pb2.GetCustomerRequest(id=customer_id), timeout=CALL_DEADLINE_SECONDS)
    assert found.id == customer_id
    return Probe(started, time.monotonic() - started)


async def _calls(platform: Platform, customer_id: str, count: int) -> list[Probe]:
    async with grpc.aio.insecure_channel(customer_address(platform)) as channel:
        customers = customer_pb2_grpc.CustomerServiceStub(channel)
        calls = []
        for _ in range(count):
            calls.append(asyncio.create_task(_get_customer(customers, customer_id)))
            await asyncio.sleep(PROBE_EVERY)  # paces the calls; each is timed on its own
        return list(await asyncio.gather(*calls))


def calls(platform: Platform, customer_id: str, count: int = CONFIRMING_CALLS) -> list[Probe]:
    """``count`` GetCustomer calls to the customer service, started PROBE_EVERY apart."""
    return asyncio.run(_calls(platform, customer_id, count))


async def _until_changed(platform: Platform, customer_id: str, changed: Callable[[Probe], bool]) -> list[Probe]:
    # The change must arrive within ARRIVES_WITHIN_SECONDS; a slow call shows it only once it has waited the fault out.
    give_up = time.monotonic() + ARRIVES_WITHIN_SECONDS + INJECTED_SECONDS
    async with grpc.aio.insecure_channel(customer_address(platform)) as channel:
        customers = customer_pb2_grpc.CustomerServiceStub(channel)
        started: list[asyncio.Task[Probe]] = []
        while not any(call.done() and changed(call.result()) for call in started):
            if time.monotonic() > give_up:
                pytest.fail(f"no call showed the change within {ARRIVES_WITHIN_SECONDS} s")
            started.append(asyncio.create_task(_get_customer(customers, customer_id)))
            await asyncio.sleep(PROBE_EVERY)  # paces the calls; each is timed on its own
        for _ in range(CONFIRMING_CALLS):
            started.append(asyncio.create_task(_get_customer(customers, customer_id)))
            await asyncio.sleep(PROBE_EVERY)
        return list(await asyncio.gather(*started))


def changed_after(since: float, platform: Platform, customer_id: str, changed: Callable[[Probe], bool]) -> float:
    """Seconds from ``since`` to the start of the first GetCustomer call that showed the change (``changed``),
    calling until one has and checking that every call started after that had answered shows it too."""
    found = asyncio.run(_until_changed(platform, customer_id, changed))
    showing = [probe for probe in found if changed(probe)]
    # Calls started close together may overtake one another on a busy machine; a call started after one showing the
    # change had answered certainly reached the customer service after the change did.
    shown_by = min(probe.answered for probe in showing)
    later = [probe for probe in found if probe.started > shown_by]
    assert later, found
    assert all(changed(probe) for probe in later), f"calls after the change went back: {found}"
    return min(probe.started for probe in showing) - since


def search_seconds(platform: Platform, customer: dict[str, Any]) -> float:
    """How long SearchCustomers for ``customer``'s code took (it must find the customer)."""

    async def search() -> float:
        async with grpc.aio.insecure_channel(customer_address(platform)) as channel:
            customers = customer_pb2_grpc.CustomerServiceStub(channel)
            started = time.monotonic()
            found = await customers.SearchCustomers(
                customer_pb2.SearchCustomersRequest(query=customer["code"]), timeout=CALL_DEADLINE_SECONDS
            )
            seconds = time.monotonic() - started
        assert customer["id"] in [each.id for each in found.customers]
        return seconds

    return asyncio.run(search())


def wait_for_flag_service(client: httpx.Client, sre: dict[str, str], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while True:
        response = client.get(FLAG, headers=sre)
        if response.status_code == 200:
            return
        assert time.monotonic() < deadline, f"the flag service is not back after {within} s: {response.text}"
        time.sleep(0.2)


def test_a_fault_flag_slows_get_customer_survives_the_flag_service_stopping_and_is_killed(
    platform: Platform, sre: dict[str, str], customer: dict[str, Any]
) -> None:
    supervisor = SupervisorClient(Layout.at(platform.data_dir))
    timings: dict[str, float] = {}
    with httpx.Client(base_url=platform.base_url, timeout=15) as client:
        (before,) = calls(platform, customer["id"], 1)
        assert before.fast, f"GetCustomer took {before.seconds:.3f} s before any fault"

        # (1) The seed defines fault.customer DISABLED; an SRE enables several seconds on GetCustomer only.
        seeded = client.get(FLAG, headers=sre)
        assert seeded.status_code == 200, seeded.text
        assert seeded.json()["definition"]["state"] == "DISABLED"
        latency_ms = round(INJECTED_SECONDS * 1000)
        definition = {
            "state": "ENABLED",
            "variants": {"slow": {"latency_ms": [latency_ms, latency_ms], "methods": ["GetCustomer"]}, "none": {}},
            "defaultVariant": "slow",
        }
        changed = client.put(
            FLAG,
            json={"definition": definition, "description": "e2e: slow GetCustomer", "reason": "e2e chaos test"},
            headers={**sre, "If-Match": seeded.headers["ETag"]},
        )
        put_at = time.monotonic()
        assert changed.status_code == 200, changed.text
        assert changed.json()["version"] == seeded.json()["version"] + 1
        timings["slowdown"] = changed_after(put_at, platform, customer["id"], lambda probe: probe.slow)
        seconds = search_seconds(platform, customer)
        assert seconds < FAST_SECONDS, f"SearchCustomers took {seconds:.3f} s: the fault is for GetCustomer only"

        # (2) With the flag service stopped, the customer service keeps its last known flags and answers.
        supervisor.stop("flags")
        assert not supervisor.process("flags").alive
        found = calls(platform, customer["id"])
        assert all(probe.slow for probe in found), found
        seconds = search_seconds(platform, customer)
        assert seconds < FAST_SECONDS, f"SearchCustomers took {seconds:.3f} s with the flag service stopped"

        # (3) The flag service back, the kill switch lifts the fault everywhere.
        restarted_at = time.monotonic()
        supervisor.start("flags")
        wait_for_flag_service(client, sre)
        timings["flag service back"] = time.monotonic() - restarted_at
        killed = client.post(f"{FLAG}/kill", json={"reason": "e2e: end of chaos test"}, headers=sre)
        kill_at = time.monotonic()
        assert killed.status_code == 200, killed.text
        assert killed.json()["definition"]["state"] == "DISABLED"
        timings["recovery"] = changed_after(kill_at, platform, customer["id"], lambda probe: probe.fast)
    print(
        f"\nfault.customer: the slowdown reached GetCustomer {timings['slowdown'] * 1000:.0f} ms after the PUT "
        f"answered, the kill lifted it {timings['recovery'] * 1000:.0f} ms after the kill answered (target "
        f"{PROPAGATION_TARGET_SECONDS:.0f} s each, to within {PROBE_EVERY * 1000:.0f} ms); the flag service was back "
        f"{timings['flag service back']:.1f} s after its restart"
    )


# --- The kill switch reaches every service -------------------------------------------------------------------

KILLED_FLAG = "e2e-kill-switch"
# Each service's /metrics is read this often: the resolution of the printed propagation times, far below the 1 s
# target, and not so often that the readers themselves load a busy machine.
POLL_EVERY = 0.05
METRICS_TIMEOUT_SECONDS = 10.0


def metrics_urls(platform: Platform) -> dict[str, str]:
    """Each service that evaluates flags in-process (all but the flag service, their source) → its /metrics."""
    state = PlatformState.load(Layout.at(platform.data_dir).state_path)
    assert state is not None, "the platform records its state when it is up"
    urls = {}
    for service in SERVICES:
        if service.name == "flags":
            continue
        if service.protocol == "grpc":
            urls[service.name] = f"http://127.0.0.1:{state.ports[f'{service.name}_metrics']}/metrics"
        else:
            urls[service.name] = f"{platform.base_url}/metrics"
    return urls


def sample(text: str, name: str, label: str | None = None, value: str | None = None) -> float | None:
    """The value of metric ``name`` (with ``label="value"`` when given) in a /metrics page, None when absent."""
    labels = re.escape(f'{{{label}="{value}"}}') if label else ""
    found = re.search(rf"^{name}{labels} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


@dataclass(frozen=True)
class Seen:
    version: float | None
    enabled: float | None
    stream_connected: float | None
    # Flag change messages this service applied from Redis pub/sub: the flag service publishes one at each commit.
    pubsub_updates: float


def seen(client: httpx.Client, url: str) -> Seen:
    text = client.get(url).text
    return Seen(
        sample(text, "luckygas_flag_version", "flag", KILLED_FLAG),
        sample(text, "luckygas_flag_enabled", "flag", KILLED_FLAG),
        sample(text, "luckygas_flags_stream_connected"),
        sample(text, "luckygas_flags_updates_total", "source", "redis") or 0.0,
    )


def wait_everywhere(
    urls: dict[str, str], wanted: Callable[[str, Seen], bool], since: float | None = None
) -> dict[str, float]:
    """Polls every service at once; returns, per service, seconds from ``since`` (default: now) until its flags
    matched ``wanted(service, Seen)``. Fails when one has not within ARRIVES_WITHIN_SECONDS."""
    started = time.monotonic() if since is None else since
    arrived: dict[str, float] = {}

    def poll(name: str, url: str) -> None:
        with httpx.Client(timeout=METRICS_TIMEOUT_SECONDS) as client:
            while time.monotonic() - started < ARRIVES_WITHIN_SECONDS:
                if wanted(name, seen(client, url)):
                    arrived[name] = time.monotonic() - started
                    return
                time.sleep(POLL_EVERY)  # the polling interval of this observer; what is timed is the service

    threads = [threading.Thread(target=poll, args=item) for item in urls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(arrived) == set(urls), f"not every service got there within {ARRIVES_WITHIN_SECONDS} s: {arrived}"
    return arrived


def figures(arrived: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in sorted(arrived.items()))


def test_a_kill_reaches_every_service_and_they_resync_after_the_flag_service_is_back(platform: Platform) -> None:
    urls = metrics_urls(platform)
    assert set(urls) >= {"customer", "order", "gateway"}
    supervisor = SupervisorClient(Layout.at(platform.data_dir))
    with httpx.Client(base_url=platform.base_url, timeout=10) as client, httpx.Client(timeout=10) as metrics:
        admin = log_in(client, "admin")
        definition = {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "on"}
        created = client.put(
            f"/api/v1/flags/{KILLED_FLAG}",
            json={"definition": definition, "description": "e2e kill switch", "reason": "e2e"},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        wait_everywhere(urls, lambda _, now: now.version == 1 and now.enabled == 1)
        before = {name: seen(metrics, url) for name, url in urls.items()}

        # Timed from just before the request: the gateway's call to the flag service is part of a kill.
        sent = time.monotonic()
        killed = client.post(f"/api/v1/flags/{KILLED_FLAG}/kill", json={"reason": "e2e: kill"}, headers=admin)
        killed_after = wait_everywhere(urls, lambda _, now: now.version == 2 and now.enabled == 0, since=sent)
        assert killed.status_code == 200, killed.text
        # Pushed at commit, not found later by the flag service's periodic resync: every service also received the
        # change on pub/sub, where only a commit publishes (see the module docstring).
        wait_everywhere(urls, lambda name, now: now.pubsub_updates > before[name].pubsub_updates)

        # The flag service stopped: every service notices the stream is gone and keeps the killed flag.
        supervisor.stop("flags")
        try:
            wait_everywhere(urls, lambda _, now: now.stream_connected == 0)
            kept = {name: seen(metrics, url) for name, url in urls.items()}
            assert all(now.version == 2 and now.enabled == 0 for now in kept.values()), kept
        finally:
            supervisor.start("flags")
        # Back: every service has its full set again, and the next change reaches all of them.
        wait_everywhere(urls, lambda _, now: now.stream_connected == 1 and now.version == 2)
        sent = time.monotonic()
        restored = client.post(
            f"/api/v1/flags/{KILLED_FLAG}/restore", json={"version": 1, "reason": "e2e: restore"}, headers=admin
        )
        assert restored.status_code == 200, restored.text
        restored_after = wait_everywhere(urls, lambda _, now: now.version == 3 and now.enabled == 1, since=sent)
    print(
        f"\nthe kill reached every service in {max(killed_after.values()) * 1000:.0f} ms ({figures(killed_after)}); "
        f"the restore after the flag service's restart in {max(restored_after.values()) * 1000:.0f} ms "
        f"({figures(restored_after)}); target {PROPAGATION_TARGET_SECONDS:.0f} s, "
        f"to within {POLL_EVERY * 1000:.0f} ms"
    )
