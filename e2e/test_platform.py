"""The whole embedded platform through `luckygas up`: customers over HTTP survive a SIGKILLed customer service.

How fast the gateway answers while the service is down, and how soon reads work again, are printed against their
targets; the test fails only when the outcome is wrong or does not come within bounds a busy machine cannot reach.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from e2e.conftest import SEARCH_WORD, Platform, customer_body, log_in
from services.local.supervision import MARKER_VARIABLE

pytestmark = pytest.mark.e2e

PROBLEM_JSON = "application/problem+json"
# With the customer service down the gateway answers 503 at once (a service that did not answer in time would be a
# 504 after its 2 s call deadline); the target is within 2 s, the test's bound only catches a hang.
DOWN_ANSWER_TARGET_SECONDS = 2.0
DOWN_ANSWER_WITHIN_SECONDS = 30.0
# The supervisor restarts the killed service: reads work again within 10 s on a quiet machine, and within this bound on
# any machine, however busy (a new process imports, connects and loads its flags on two saturated cores).
RECOVERY_TARGET_SECONDS = 10.0
RECOVERS_WITHIN_SECONDS = 60.0


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

    # Sent at once: the replacement process takes seconds to start (longer on a busy machine), so this read meets
    # no customer service.
    asked_at = time.monotonic()
    during = client.get(f"/api/v1/customers/{first}", headers=office, timeout=DOWN_ANSWER_WITHIN_SECONDS)
    answered_in = time.monotonic() - asked_at
    assert during.status_code == 503, during.text
    assert during.headers["content-type"].startswith(PROBLEM_JSON)
    assert during.json()["status"] == 503

    recovered_in = None
    while time.monotonic() - killed_at < RECOVERS_WITHIN_SECONDS:
        if client.get(f"/api/v1/customers/{first}", headers=office).status_code == 200:
            recovered_in = time.monotonic() - killed_at
            break
        time.sleep(0.2)
    assert recovered_in is not None, f"reads did not succeed again within {RECOVERS_WITHIN_SECONDS} s of the kill"
    print(
        f"\ncustomer service SIGKILLed: the gateway answered 503 in {answered_in * 1000:.0f} ms (target "
        f"{DOWN_ANSWER_TARGET_SECONDS:.0f} s); reads worked again {recovered_in:.1f} s after the kill (target "
        f"{RECOVERY_TARGET_SECONDS:.0f} s)"
    )
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
