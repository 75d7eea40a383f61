"""The README's five-minute tour, run exactly as written: its shell blocks, in order, in one bash process, against
a fresh demo platform (``API`` points them at it; the README defaults it to ``make up``'s gateway). A command
that fails, a field a later command needs that is missing, or an answer the tour promises that does not come
fails the test, so the README cannot drift from what the platform does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.conftest import Platform, demo_platform
from services.platform import clock

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parent.parent / "README.md"


def tour_blocks() -> list[str]:
    """The ```sh blocks of the "Five-minute tour" section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Five-minute tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    # The tour works out "tomorrow" from the real clock, so the platform runs on it too (whatever --clock-at says).
    with demo_platform(tmp_path_factory.mktemp("tour") / "luckygas", at=clock.moved_by(0)) as running:
        yield running


def test_the_tour_has_the_steps_a_newcomer_needs() -> None:
    tour = "\n".join(tour_blocks())

    for step in ("login dispatcher", "/api/v1/customers", "/confirm", "/api/v1/plans", "/publish", "/urgent"):
        assert step in tour, step
    for step in ("/drivers/me/route", "/drivers/me/positions", "/delivered?date=", "/tracking/nearest"):
        assert step in tour, step
    assert not re.search(r"<(id|tomorrow|plan id|now)[^>]*>", tour), "the tour must run as written"


def test_the_tour_runs_as_written(platform: Platform) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    assert shutil.which("curl") is not None, "the tour needs curl: make install puts it on a Debian machine"
    script = "set -euo pipefail\n" + "\n".join(tour_blocks())

    ran = subprocess.run(
        [bash, "-c", script],
        env={**os.environ, "API": platform.base_url},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    output = ran.stdout
    assert ran.returncode == 0, f"the tour stopped (exit {ran.returncode}):\n{output[-3000:]}\n{ran.stderr[-3000:]}"
    assert not re.search(r'"status":5\d\d', output), output
    # What the tour says each step shows.
    assert '"short_name":"鐵花小吃"' in output  # the search finds the customer just created
    assert '"slot_code":2' in output  # the update took
    assert '"field":"zone"' in output  # bad input is named field by field
    assert '"status":"confirmed"' in output
    assert '"status":"published"' in output
    assert '"stored":1' in output  # the driver's batch of fixes
    assert '"has_signature":true' in output  # delivered, with its proof
