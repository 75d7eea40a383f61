"""Running the embedded platform for end-to-end tests: `luckygas up --seed demo` in a temporary data dir."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.local.stores import free_port
from services.platform import clock

DEMO_PASSWORD = "luckygas-demo"
# Far above the demo data's codes (1000001 and up), so creates never collide with the seed.
FIRST_CODE = 8_000_001
SEARCH_WORD = "端對端"


# A module's first test also waits for its platform's `luckygas up`, which takes minutes on a saturated machine:
# the suite's 300 s per test is too short for that, not for a hang.
E2E_TIMEOUT_SECONDS = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Called with every item of the session, not only e2e's: pick ours by their marker.
    for item in items:
        if item.get_closest_marker("e2e") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT_SECONDS))


@dataclass
class Platform:
    data_dir: Path
    base_url: str
    # The platform's clock offset (LUCKYGAS_CLOCK_OFFSET_SECONDS): the suite's own, or the moment a module chose.
    clock_offset: float = 0.0

    def luckygas(self, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run_luckygas(
            *arguments, "--data-dir", str(self.data_dir), timeout=timeout, clock_offset=self.clock_offset
        )

    def now(self) -> datetime:
        """Now on the platform's clock."""
        return clock.moved_by(self.clock_offset)

    def status(self) -> dict[str, Any]:
        result = self.luckygas("status", "--json")
        return dict(json.loads(result.stdout))

    def pids(self) -> dict[str, int]:
        document = self.status()
        assert document["running"], document
        pids = {row["name"]: row["pid"] for row in document["components"] if row["pid"]}
        return {**pids, "supervisord": document["supervisord_pid"]}


def luckygas_command() -> list[str]:
    # The installed console script is what users run; fall back to the module when it is not installed.
    script = shutil.which("luckygas", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "services.local.cli"]


def run_luckygas(*arguments: str, timeout: float, clock_offset: float) -> subprocess.CompletedProcess[str]:
    # Only our own LUCKYGAS_* settings: the unit tests' conftest points LUCKYGAS_DATABASE_URL at its own
    # Postgres, which would make `up` use that instead of starting one.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LUCKYGAS_")}
    environment["LUCKYGAS_DEMO_PASSWORD"] = DEMO_PASSWORD
    if clock_offset:
        environment[clock.OFFSET_VARIABLE] = repr(clock_offset)
    return subprocess.run(
        [*luckygas_command(), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def demo_platform(data_dir: Path, at: datetime | None = None) -> Iterator[Platform]:
    """`luckygas up --seed demo` on a free gateway port; `down` afterwards whatever happened. ``at`` starts the
    platform's clock at that moment (else it runs on the suite's clock, moved by ``--clock-at`` or not)."""
    data_dir = data_dir.resolve()
    gateway_port = free_port()
    offset = clock.offset_to(at) if at is not None else clock.offset_seconds()
    started = run_luckygas(
        "up",
        "--seed",
        "demo",
        "--data-dir",
        str(data_dir),
        "--gateway-port",
        str(gateway_port),
        timeout=600,
        clock_offset=offset,
    )
    running = Platform(data_dir, f"http://127.0.0.1:{gateway_port}", offset)
    try:
        assert started.returncode == 0, f"luckygas up failed:\n{started.stdout}\n{started.stderr}"
        yield running
    finally:
        # Whatever the test did, never leave a platform running behind it.
        running.luckygas("down")


@pytest.fixture
def luckygas_platform(tmp_path: Path) -> Iterator[Platform]:
    with demo_platform(tmp_path / "luckygas") as running:
        yield running


def customer_body(number: int) -> dict[str, Any]:
    """A valid create body (the gateway's CustomerCreate); the number makes code and name unique."""
    return {
        "code": str(FIRST_CODE + number),
        "short_name": f"{SEARCH_WORD}早餐店{number}",
        "invoice_title": f"{SEARCH_WORD}早餐店{number}",
        "tax_id": "22099131",
        "phones": ["0932-123-456"],
        "address": f"台東市四維路二段{80 + number}號",
        "postal_code": "950",
        "zone": "B",
        "latitude": 22.752,
        "longitude": 121.15,
        "segment": "ordinary",
        "hourly_windows": [True] * 12,
        "slot_code": 0,
        "rest_days": "6.7",
        "vehicle_requirement": "motorcycle",
        "cylinders": {"cylinder-20-regular": 2},
        "consumption_kg_per_day": 6.5,
        "max_cycle_days": 9,
        "slip_days": 3,
        "pricing_method": "cylinder",
        "payment_terms": "monthly",
        "credit_limit": 30000,
    }


def log_in(client: httpx.Client, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
