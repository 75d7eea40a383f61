"""``luckygas load accounts``: the logins a load test needs, made honestly through the services' own seed commands,
and the list of them a load generator (loadtests/locustfile.py) reads.

The file, ``<data-dir>/load/accounts.json`` (mode 0600)::

    {
      "password": "...",            # one password for every load account, generated at the first run, then kept
      "accounts": [
        {"username": "load-customer-0001", "role": "customer", "display_name": "壓測客戶 0001",
         "customer_code": "1000001", "driver_id": null},
        {"username": "load-driver-0001", "role": "driver", "display_name": "壓測司機 0001",
         "customer_code": null, "driver_id": "load-driver-0001",
         "phone": "0990-000-001", "vehicle_kind": "small_truck"},
        ...
      ]
    }

Every account has ``username``, ``role`` (admin, dispatcher, driver, customer, sre), ``display_name``,
``customer_code`` (the customer whose orders a customer login sees; null for the others) and ``driver_id`` (the
tracking service's driver a driver login clocks in and posts positions as, the username itself; null for the
others). Driver accounts also carry the ``phone`` and ``vehicle_kind`` of their tracking profile.

The same ``--users`` gives the same accounts: names, roles and customers follow from the count and from the
customers that exist (the lowest codes that are not terminated), so a rerun creates nothing and reuses the
password in the file. The gateway seed reads this same document (``seed --seed load --accounts FILE``) and
creates the logins; the tracking seed creates the drivers' profiles from it.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luckygas.customer.v1 import customer_pb2 as customer_pb
from luckygas.customer.v1 import customer_pb2_grpc

from services.local.supervision import write_private_file
from services.platform.grpc_client import open_channel

# The share of each role among the load accounts, for 1,000 concurrent users = twice the expected peak.
# Head count alone cannot fill 1,000 sessions (the company has about 10 drivers, 2 office staff and a few
# managers), so the mix is by the traffic each role brings at twice peak:
# - customers (55%): the only population large enough for most of the sessions (~13,000 customers); on a delivery
#   day they look at their orders and where the truck is;
# - office staff (25%): the heaviest writers (orders created and confirmed, due lists, day plans); at peak every
#   desk has the order screen, the dispatch board and the live map open, each a session of its own;
# - drivers (15%): one phone each, a position batch every 15 s plus stop updates: 150 phones at 1,000 users is
#   about ten times a doubled fleet's GPS traffic, which is the point of a test at twice peak;
# - managers and SREs (2.5% each): dashboards, flags, audit, pilot and migration status.
ROLE_MIX: tuple[tuple[str, float], ...] = (
    ("customer", 0.55),
    ("dispatcher", 0.25),
    ("driver", 0.15),
    ("admin", 0.025),
    ("sre", 0.025),
)
DISPLAY_NAMES = {
    "customer": "壓測客戶",
    "dispatcher": "壓測調度員",
    "driver": "壓測司機",
    "admin": "壓測管理員",
    "sre": "壓測 SRE",
}
# Vehicle kinds of the load drivers' profiles, in the demo fleet's proportions (3 small trucks, 2 medium, 2 vans,
# 1 motorcycle; services/tracking/demo.py).
VEHICLE_KINDS = (
    "small_truck",
    "small_truck",
    "small_truck",
    "medium_truck",
    "medium_truck",
    "van",
    "van",
    "motorcycle",
)
USERNAME_PREFIX = "load"
PASSWORD_BYTES = 18
CUSTOMER_PAGE_SIZE = 200
SEARCH_DEADLINE_SECONDS = 30.0
CUSTOMER_SERVICE = customer_pb.DESCRIPTOR.services_by_name["CustomerService"]


class NotEnoughCustomers(Exception):
    """Fewer customers than customer accounts: each customer login stands for a customer of its own."""


def role_counts(users: int) -> dict[str, int]:
    """How many accounts of each role ``users`` accounts hold (largest remainder; every role at least one once
    there are as many users as roles)."""
    if users < 0:
        raise ValueError("the number of users cannot be negative")
    exact = {role: users * share for role, share in ROLE_MIX}
    counts = {role: math.floor(value) for role, value in exact.items()}
    by_remainder = sorted(exact, key=lambda role: (-(exact[role] - counts[role]), list(exact).index(role)))
    for role in by_remainder[: users - sum(counts.values())]:
        counts[role] += 1
    if users >= len(ROLE_MIX):
        for role in counts:
            if counts[role] == 0:
                largest = max(counts, key=lambda name: counts[name])
                counts[largest] -= 1
                counts[role] = 1
    return counts


@dataclass(frozen=True)
class LoadAccount:
    username: str
    role: str
    display_name: str
    customer_code: str | None = None
    driver_id: str | None = None
    phone: str | None = None
    vehicle_kind: str | None = None

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "username": self.username,
            "role": self.role,
            "display_name": self.display_name,
            "customer_code": self.customer_code,
            "driver_id": self.driver_id,
        }
        if self.role == "driver":
            document["phone"] = self.phone
            document["vehicle_kind"] = self.vehicle_kind
        return document


def plan_accounts(users: int, customer_codes: Sequence[str]) -> list[LoadAccount]:
    """The accounts of ``users`` load users; customer logins take ``customer_codes`` in order, one each."""
    counts = role_counts(users)
    if counts["customer"] > len(customer_codes):
        raise NotEnoughCustomers(
            f"{counts['customer']} customer accounts need as many customers; only {len(customer_codes)} exist "
            f"(not terminated): load the demo data (`up --seed demo`) or ask for fewer users"
        )
    accounts = []
    for role, _ in ROLE_MIX:
        for number in range(1, counts[role] + 1):
            username = f"{USERNAME_PREFIX}-{role}-{number:04d}"
            display_name = f"{DISPLAY_NAMES[role]} {number:04d}"
            if role == "customer":
                accounts.append(LoadAccount(username, role, display_name, customer_code=customer_codes[number - 1]))
            elif role == "driver":
                phone = f"0990-{number // 1000:03d}-{number % 1000:03d}"
                kind = VEHICLE_KINDS[(number - 1) % len(VEHICLE_KINDS)]
                accounts.append(
                    LoadAccount(username, role, display_name, driver_id=username, phone=phone, vehicle_kind=kind)
                )
            else:
                accounts.append(LoadAccount(username, role, display_name))
    return accounts


def read_password(path: Path) -> str | None:
    """The password of an earlier run's file, so a rerun keeps it."""
    if not path.exists():
        return None
    password = json.loads(path.read_text(encoding="utf-8")).get("password")
    return str(password) if password else None


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def write_accounts(path: Path, password: str, accounts: Sequence[LoadAccount]) -> None:
    document = {"password": password, "accounts": [account.as_json() for account in accounts]}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private_file(path, json.dumps(document, ensure_ascii=False, indent=2) + "\n")


async def _search_codes(address: str) -> list[str]:
    channel = open_channel(address, CUSTOMER_SERVICE, default_deadline=SEARCH_DEADLINE_SECONDS)
    try:
        stub = customer_pb2_grpc.CustomerServiceStub(channel)
        codes: list[str] = []
        token = ""  # nosec B105 # a page token, empty for the first page
        while True:
            page = await stub.SearchCustomers(
                customer_pb.SearchCustomersRequest(terminated=False, page_size=CUSTOMER_PAGE_SIZE, page_token=token)
            )
            codes += [customer.fields.code for customer in page.customers]
            token = page.next_page_token
            if not token:
                return sorted(codes, key=int)
    finally:
        await channel.close()


def customer_codes(address: str) -> list[str]:
    """Codes of every customer not terminated, lowest first, asked of the running customer service."""
    return asyncio.run(_search_codes(address))


def summary_lines(accounts: Sequence[LoadAccount]) -> list[str]:
    counts = Counter(account.role for account in accounts)
    return [f"  {role:<10} {counts[role]:>5}" for role, _ in ROLE_MIX] + [f"  {'total':<10} {len(accounts):>5}"]
