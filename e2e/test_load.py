"""`make load` in small, so the Locust scenarios never rot: 100 users for under a minute against a platform the
runner starts itself (with the login limit raised for one generator, as `make load` does) and stops afterwards.

Correctness only: no 5xx, every order a user was told was created is read back, each user class worked. Latency
is not asserted: the gates are `make load`'s, on a machine that is not also running the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.conftest import DEMO_PASSWORD, run_luckygas
from services.local.stores import free_port
from services.platform import clock

pytestmark = pytest.mark.e2e

REPOSITORY = Path(__file__).resolve().parent.parent
USER_CLASSES = {"MixedWorkloadUser", "MobileDriverUser", "AdminDashboardUser", "CustomerUser"}
# Platform start-up (minutes on a saturated machine), accounts, the run, Locust's stop timeout, the shutdown.
RUN_TIMEOUT_SECONDS = 840


def test_a_short_load_run_gets_no_5xx_keeps_every_created_order_and_exercises_every_user_class(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "luckygas"
    # Only our own LUCKYGAS_* settings (as e2e/conftest.py): the unit tests' database URL must not leak in.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LUCKYGAS_")}
    environment["LUCKYGAS_DEMO_PASSWORD"] = DEMO_PASSWORD
    offset = clock.offset_seconds()
    if offset:
        environment[clock.OFFSET_VARIABLE] = repr(offset)
    command = [
        sys.executable, "-m", "loadtests.load", "--data-dir", str(data_dir), "--gateway-port", str(free_port()),
        "--users", "100", "--duration", "45s", "--ramp", "25s", "--report-only",
    ]  # fmt: skip
    try:
        run = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=environment,
            cwd=REPOSITORY,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
    finally:
        # The runner stops the platform it started; this is for a runner that was itself stopped half-way.
        run_luckygas("down", "--data-dir", str(data_dir), timeout=120, clock_offset=offset)
    print(run.stdout[-6000:])
    assert run.returncode == 0, f"{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    summary = json.loads((data_dir / "load" / "summary.json").read_text())
    results = summary["results"]

    assert results["server_errors"] == {}, results["errors"]
    verification = results["verification"]
    assert verification["created"] > 0, "office users took orders"
    assert verification["missing"] == [], verification
    assert verification["verified"] == verification["created"], verification
    assert results["unserved_users"] == 0
    assert set(results["requests_by_class"]) == USER_CLASSES, results["requests_by_class"]
    assert all(count > 0 for count in results["requests_by_class"].values()), results["requests_by_class"]
    assert (data_dir / "load" / "report.html").exists()
    assert (data_dir / "load" / "locust_stats.csv").exists()
