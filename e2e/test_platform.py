"""The whole embedded platform through `luckygas up`: customers over HTTP survive a SIGKILLed customer service."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.local.stores import free_port
from services.local.supervision import MARKER_VARIABLE

pytestmark = pytest.mark.e2e

DEMO_PASSWORD = "luckygas-demo"
PROBLEM_JSON = "application/problem+json"
# Far above the demo data's codes (1000001 and up), so creates never collide with the seed.
FIRST_CODE = 8_000_001
SEARCH_WORD = "端對端"


@dataclass
class Platform:
    data_dir: Path
    base_url: str

    def luckygas(self, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run_luckygas(*arguments, "--data-dir", str(self.data_dir), timeout=timeout)

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


def run_luckygas(*arguments: str, timeout: float) -> subprocess.CompletedProcess[str]:
    # Only our own LUCKYGAS_* settings: the unit tests' conftest points LUCKYGAS_DATABASE_URL at its own
    # Postgres, which would make `up` use that instead of starting one.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LUCKYGAS_")}
    environment["LUCKYGAS_DEMO_PASSWORD"] = DEMO_PASSWORD
    return subprocess.run(
        [*luckygas_command(), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        check=False,
    )


def platform_processes(data_dir: Path, pids: set[int]) -> list[str]:
    """Live processes that belong to the platform: by recorded pid or parent, data dir in argv, or marker."""
    marker = f"{MARKER_VARIABLE}={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        state, parent = fields[0], int(fields[1])
        if state == "Z":
            continue
        if int(entry.name) in pids or parent in pids or str(data_dir) in cmdline or marker in environment:
            found.append(f"{entry.name} {cmdline}")
    return found


@pytest.fixture
def luckygas_platform(tmp_path: Path) -> Iterator[Platform]:
    data_dir = (tmp_path / "luckygas").resolve()
    gateway_port = free_port()
    started = run_luckygas(
        "up", "--seed", "demo", "--data-dir", str(data_dir), "--gateway-port", str(gateway_port), timeout=600
    )
    running = Platform(data_dir, f"http://127.0.0.1:{gateway_port}")
    try:
        assert started.returncode == 0, f"luckygas up failed:\n{started.stdout}\n{started.stderr}"
        yield running
    finally:
        # Whatever the test did, never leave a platform running behind it.
        running.luckygas("down")


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


def test_customers_survive_a_killed_customer_service_and_down_leaves_no_process(luckygas_platform: Platform) -> None:
    client = httpx.Client(base_url=luckygas_platform.base_url, timeout=10)
    office = log_in(client, "dispatcher")

    created = []
    for number in range(3):
        response = client.post("/api/v1/customers", json=customer_body(number), headers=office)
        assert response.status_code == 201, response.text
        created.append(response.json())
    found = client.get("/api/v1/customers", params={"q": SEARCH_WORD}, headers=office)
    assert found.status_code == 200, found.text
    assert sorted(item["id"] for item in found.json()["items"]) == sorted(customer["id"] for customer in created)
    updated = {}
    for customer in created:
        response = client.patch(
            f"/api/v1/customers/{customer['id']}",
            json={"slot_code": 2, "notes": f"後門進 {customer['code']}"},
            headers={**office, "If-Match": f'"{customer["version"]}"'},
        )
        assert response.status_code == 200, response.text
        assert response.json()["version"] == customer["version"] + 1
        updated[customer["id"]] = response.json()

    before = luckygas_platform.pids()
    recorded = set(before.values())
    first = created[0]["id"]
    os.kill(before["customer"], signal.SIGKILL)
    killed_at = time.monotonic()

    asked_at = time.monotonic()
    during = client.get(f"/api/v1/customers/{first}", headers=office)
    answered_in = time.monotonic() - asked_at
    assert during.status_code == 503, during.text
    assert during.headers["content-type"].startswith(PROBLEM_JSON)
    assert during.json()["status"] == 503
    assert answered_in < 2.0

    recovered_in = None
    while time.monotonic() - killed_at < 10.0:
        if client.get(f"/api/v1/customers/{first}", headers=office).status_code == 200:
            recovered_in = time.monotonic() - killed_at
            break
        time.sleep(0.2)
    assert recovered_in is not None, "reads did not succeed again within 10 s of the kill"
    after = luckygas_platform.pids()
    assert after["customer"] != before["customer"]
    recorded |= set(after.values())

    for customer_id, expected in updated.items():
        response = client.get(f"/api/v1/customers/{customer_id}", headers=office)
        assert response.status_code == 200, response.text
        kept = response.json()
        assert (kept["version"], kept["slot_code"], kept["notes"]) == (
            expected["version"],
            2,
            expected["notes"],
        )
    client.close()

    stopped = luckygas_platform.luckygas("down")
    assert stopped.returncode == 0, f"{stopped.stdout}\n{stopped.stderr}"
    assert platform_processes(luckygas_platform.data_dir, recorded) == []
