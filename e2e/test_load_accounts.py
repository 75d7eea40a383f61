"""`luckygas load accounts` on the embedded platform: the logins a load test needs are real ones. Every listed
account logs in through the gateway with the file's password, a load driver clocks in and posts positions as
itself, a load customer sees its own orders and no one else's, and a rerun creates nothing and keeps the password.

The gateway's login rate limit stays on (20 attempts a minute per address): the module logs in each of its 20
accounts exactly once and does everything else with those sessions.
"""

from __future__ import annotations

import json
import random
import re
import stat
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.conftest import Platform, demo_platform
from loadtests.realistic_day import order_body
from services.local import load_accounts
from services.platform.clock import TAIPEI

pytestmark = pytest.mark.e2e

USERS = 20
ORDERS = "/api/v1/orders"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with demo_platform(tmp_path_factory.mktemp("load-accounts") / "luckygas") as running:
        yield running


@pytest.fixture(scope="module")
def first_run(platform: Platform) -> str:
    result = platform.luckygas("load", "accounts", "--users", str(USERS), timeout=300)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result.stdout


def accounts_path(platform: Platform) -> Path:
    return platform.data_dir / "load" / "accounts.json"


@pytest.fixture(scope="module")
def document(first_run: str, platform: Platform) -> dict[str, Any]:
    return dict(json.loads(accounts_path(platform).read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def sessions(platform: Platform, document: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each account's bearer header, from one real login per account."""
    headers = {}
    with httpx.Client(base_url=platform.base_url, timeout=30) as client:
        for account in document["accounts"]:
            response = client.post(
                "/api/v1/auth/login", json={"username": account["username"], "password": document["password"]}
            )
            assert response.status_code == 200, f"{account['username']}: {response.text}"
            headers[account["username"]] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return headers


def of_role(document: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [account for account in document["accounts"] if account["role"] == role]


def test_the_file_lists_the_mix_of_roles_and_only_its_owner_may_read_it(
    platform: Platform, document: dict[str, Any], first_run: str
) -> None:
    assert stat.S_IMODE(accounts_path(platform).stat().st_mode) == 0o600
    assert len(document["accounts"]) == USERS
    assert len({account["username"] for account in document["accounts"]}) == USERS
    assert Counter(account["role"] for account in document["accounts"]) == load_accounts.role_counts(USERS)
    assert set(load_accounts.role_counts(USERS).values()) >= {1}  # every role is there at 20 users
    assert len(document["password"]) >= 20
    assert re.search(rf"^\s*total\s+{USERS}$", first_run, re.MULTILINE), first_run


def test_customer_accounts_stand_for_distinct_existing_customers(document: dict[str, Any]) -> None:
    codes = [account["customer_code"] for account in of_role(document, "customer")]
    assert len(set(codes)) == len(codes)
    assert all(code.isdigit() and len(code) == 7 for code in codes)
    others = [account for account in document["accounts"] if account["role"] != "customer"]
    assert all(account["customer_code"] is None for account in others)


def test_every_account_logs_in_with_the_files_password_and_has_its_role(
    platform: Platform, document: dict[str, Any], sessions: dict[str, dict[str, str]]
) -> None:
    with httpx.Client(base_url=platform.base_url, timeout=30) as client:
        for account in document["accounts"]:
            me = client.get("/api/v1/auth/me", headers=sessions[account["username"]])
            assert me.status_code == 200, me.text
            assert me.json()["username"] == account["username"]
            assert me.json()["role"] == account["role"]
            assert me.json()["customer_code"] == account["customer_code"]


def test_a_load_driver_clocks_in_and_posts_positions_as_itself(
    platform: Platform, document: dict[str, Any], sessions: dict[str, dict[str, str]]
) -> None:
    driver = of_role(document, "driver")[0]
    assert driver["driver_id"] == driver["username"]
    headers = sessions[driver["username"]]
    now = platform.now().astimezone(TAIPEI)
    with httpx.Client(base_url=platform.base_url, timeout=30) as client:
        clocked = client.post("/api/v1/drivers/me/clock-in", headers=headers)
        assert clocked.status_code == 200, clocked.text
        assert clocked.json()["on_road"] is True
        fixes = [
            {
                "latitude": 22.7553 + step * 0.001,
                "longitude": 121.1504,
                "device_time": (now - timedelta(seconds=30 - 15 * step)).isoformat(),
            }
            for step in range(2)
        ]
        batch = {"batch_id": f"{driver['username']}-0001", "fixes": fixes}
        posted = client.post("/api/v1/drivers/me/positions", json=batch, headers=headers)
        assert posted.status_code == 200, posted.text
        assert posted.json()["stored"] == 2
        office = sessions[of_role(document, "dispatcher")[0]["username"]]
        drivers = client.get("/api/v1/tracking/drivers", headers=office)
        assert drivers.status_code == 200, drivers.text
        profile = next(found for found in drivers.json() if found["username"] == driver["driver_id"])
        assert profile["on_road"] is True
        assert profile["vehicle_kind"] == driver["vehicle_kind"]


def test_a_load_customer_sees_its_own_orders_and_no_one_elses(
    platform: Platform, document: dict[str, Any], sessions: dict[str, dict[str, str]]
) -> None:
    mine, theirs = of_role(document, "customer")[:2]
    office = sessions[of_role(document, "dispatcher")[0]["username"]]
    tomorrow = platform.now().astimezone(TAIPEI).date() + timedelta(days=1)
    rng = random.Random(15)  # nosec B311 # test data
    orders = {}
    with httpx.Client(base_url=platform.base_url, timeout=30) as client:
        for account in (mine, theirs):
            found = client.get("/api/v1/customers", params={"q": account["customer_code"]}, headers=office)
            assert found.status_code == 200, found.text
            customer = next(item for item in found.json()["items"] if item["code"] == account["customer_code"])
            body = {**order_body(customer, tomorrow, rng), "additional": True}
            key = {"Idempotency-Key": f"load-accounts-test-{account['customer_code']}"}
            created = client.post(ORDERS, json=body, headers={**office, **key})
            assert created.status_code == 201, created.text
            orders[account["username"]] = created.json()["id"]

        own = client.get(f"{ORDERS}/{orders[mine['username']]}", headers=sessions[mine["username"]])
        foreign = client.get(f"{ORDERS}/{orders[theirs['username']]}", headers=sessions[mine["username"]])

    assert own.status_code == 200, own.text
    assert own.json()["customer_code"] == mine["customer_code"]
    assert foreign.status_code == 404, foreign.text


def test_a_rerun_creates_nothing_and_keeps_the_accounts_and_password(
    platform: Platform, document: dict[str, Any], sessions: dict[str, dict[str, str]]
) -> None:
    again = platform.luckygas("load", "accounts", "--users", str(USERS), timeout=300)

    assert again.returncode == 0, f"{again.stdout}\n{again.stderr}"
    assert "load users: 0 created, 0 updated" in again.stdout
    assert "load drivers: 0 created" in again.stdout
    assert json.loads(accounts_path(platform).read_text(encoding="utf-8")) == document
