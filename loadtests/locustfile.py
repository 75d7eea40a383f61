"""A working day at Lucky Gas at twice its peak, for Locust: office staff, drivers' phones, managers and customers.

Each Locust user logs in as one account of the accounts file (`luckygas load accounts`; `--accounts PATH`), once,
and refreshes its token as the apps do; the mix of user classes is the file's mix of roles. Requests are named by
route template. Run it through ``python -m loadtests.load`` (`make load`), or by hand::

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 --accounts .luckygas/load/accounts.json

At the end the master (or the only process) reads back every order a user was told was created and, with
``--results PATH``, writes the verdict and the HTTP-only figures there.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from locust import between, constant_pacing, events, task
from locust.argument_parser import LocustArgumentParser
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import WorkerRunner

from loadtests.locust_support import RUN, WS_REQUEST_TYPE, LiveFeed, Session, entry_figures, http_figures, new_key
from services.platform import clock

# The demo customers' codes run from 1000001; the load customers' accounts are the lowest codes.
FIRST_CODE, LAST_CODE = 1_000_001, 1_001_300
APP_CUSTOMER_CODES = 600
# A one-pixel PNG: what a phone sends is larger, base64 all the same.
SIGNATURE = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGP4DwABAQEAsTj2FAAAAABJRU5ErkJggg=="
DEPOT = (22.7553, 121.1504)
SLOT_WINDOWS = {0: ("08:00", "18:00"), 1: ("08:00", "12:00"), 2: ("13:00", "17:00"), 3: ("16:00", "20:00")}
PILOT_FLAG = "new-platform"
# The lead dispatcher plans and publishes today once the morning's orders are in, then inserts urgent call-ins.
PLAN_AFTER_SECONDS = 20.0
URGENT_EVERY_SECONDS = 60.0
# Orders a customer's app heard of (this process's office users took them, or its live feed said so).
ORDERS_OF_CUSTOMER: dict[str, list[str]] = defaultdict(list)


def _arguments(parser: LocustArgumentParser) -> None:
    parser.add_argument("--accounts", default=".luckygas/load/accounts.json", help="accounts file (luckygas load)")
    parser.add_argument("--results", default="", help="write the verdict and HTTP-only figures here (JSON)")
    parser.add_argument("--live-share", type=float, default=0.3, help="share of office users on the live feed")
    parser.add_argument("--plan-budget", type=float, default=5.0, help="seconds the lead dispatcher's plan may take")


def _init(environment: Environment, **kwargs: Any) -> None:
    RUN.attach(environment, environment.parsed_options.accounts if environment.parsed_options else "")


def _verify(environment: Environment, **kwargs: Any) -> None:
    if not isinstance(environment.runner, WorkerRunner) and environment.host:
        RUN.verify_orders(environment.host.rstrip("/"))


def _write_results(exit_code: int, **kwargs: Any) -> None:
    environment = RUN.environment
    options = environment.parsed_options if environment else None
    if environment is None or isinstance(environment.runner, WorkerRunner) or not options or not options.results:
        return
    entries = list(environment.stats.entries.values())
    document = {
        "verification": RUN.verification,
        "server_errors": dict(RUN.tally.server_errors),
        "requests_by_class": dict(RUN.tally.requests_by_class),
        "users_by_class": dict(RUN.tally.users_by_class),
        "unserved_users": RUN.tally.unserved_users,
        "http": http_figures(environment.stats, (e for e in entries if e.method != WS_REQUEST_TYPE), "HTTP"),
        "live": http_figures(
            environment.stats, (e for e in entries if e.method == WS_REQUEST_TYPE and "(" not in e.name), "WS"
        ),
        "by_name": {
            f"{e.method} {e.name}": entry_figures(e) for e in sorted(entries, key=lambda e: (e.method or "", e.name))
        },
        "errors": [
            {"method": error.method, "name": error.name, "error": str(error.error), "occurrences": error.occurrences}
            for error in environment.stats.errors.values()
        ],
        "locust_exit_code": exit_code,
    }
    Path(options.results).write_text(json.dumps(document, indent=2, ensure_ascii=False))


class LuckyGasUser(FastHttpUser):
    """One person with one account: logs in once (spread over the ramp-up, as Locust spawns users), then works."""

    abstract = True

    def on_start(self) -> None:
        self.request_count = 0
        account = RUN.take_account(type(self).__name__)
        if account is None:
            RUN.report("unserved", type(self).__name__)
            self.environment.events.request.fire(
                request_type="ACCOUNT",
                name="no free account for " + type(self).__name__,
                response_time=0,
                response_length=0,
                exception=RuntimeError("more users than accounts of this role"),
                context={},
            )
            raise StopUser()
        self.account = account
        self.session = Session(self.client, account)
        self.request_count += 1
        if not self.session.log_in():
            raise StopUser()
        self.started_at = time.monotonic()

    def on_stop(self) -> None:
        if getattr(self, "account", None) is not None:
            RUN.report("user_done", {"class": type(self).__name__, "requests": self.request_count})

    def call(
        self,
        method: str,
        path: str,
        name: str,
        *,
        ok: tuple[int, ...] = (200,),
        accept: tuple[int, ...] = (),
        body: Any = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The answer's JSON when the status is in ``ok``; None when it is in ``accept`` (an expected refusal, e.g.
        no route today) or a failure. Every 5xx is a failure and is counted as such."""
        url = f"{path}?{urlencode(query, doseq=True)}" if query else path
        sent = {**self.session.headers(), **(headers or {})}
        self.request_count += 1
        with self.client.request(method, url, name=name, json=body, headers=sent, catch_response=True) as answer:
            status = answer.status_code or 0
            if status >= 500:
                RUN.report("server_error", f"{status} {method} {name}")
            if status in ok:
                try:
                    return answer.json() if answer.content else {}
                except ValueError:
                    answer.failure(f"{status} not JSON: {answer.text[:200]}")
                    return None
            if status in accept:
                answer.success()
                return None
            answer.failure(f"{status} {(answer.text or '')[:200]}")
            return None


# --- the office -------------------------------------------------------------------------------------------------


class MixedWorkloadUser(LuckyGasUser):
    """Office staff: phones ring, customers are looked up, orders taken and confirmed, the due list and the day's
    plan read; one of them (the lead dispatcher) plans and publishes today and slots urgent call-ins into it."""

    wait_time = between(3, 15)
    weight = 25

    def on_start(self) -> None:
        super().on_start()
        self.customers: dict[str, dict[str, Any]] = {}
        self.plan_id = ""
        self.last_urgent = 0.0
        self.last_plan_attempt = time.monotonic()
        self.live: LiveFeed | None = None
        options = self.environment.parsed_options
        share = options.live_share if options else 0.3
        if random.random() < share:  # nosec B311 # which desks keep the live map open
            self.live = LiveFeed(self.environment, self.host or "", lambda: self.session.access_token, lambda m: None)

    def on_stop(self) -> None:
        if getattr(self, "live", None) is not None and self.live:
            self.live.close()
        super().on_stop()

    def _search(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        page = self.call("GET", "/api/v1/customers", "/api/v1/customers?q=&zone=", query={**query, "page_size": 20})
        items: list[dict[str, Any]] = (page or {}).get("items", [])
        for customer in items:
            if not customer.get("blocked") and not customer.get("terminated"):
                self.customers[customer["id"]] = customer
        return items

    def _random_code(self) -> str:
        # Half the calls come from the customers who also use the app (the load accounts' lowest codes).
        last = FIRST_CODE + APP_CUSTOMER_CODES if random.random() < 0.5 else LAST_CODE  # nosec B311
        return str(random.randint(FIRST_CODE, last))  # nosec B311 # which customer calls

    def _a_customer(self) -> dict[str, Any] | None:
        found = self._search({"q": self._random_code()})
        usable = [c for c in found if c["id"] in self.customers]
        return usable[0] if usable else None

    @task(5)
    def look_up_customer(self) -> None:
        if random.random() < 0.3:  # nosec B311 # browsing a zone instead of a phone call
            found = self._search({"zone": random.choice("ABCDEFG")})  # nosec B311
        else:
            found = self._search({"q": self._random_code()})
        if found:
            customer = random.choice(found)  # nosec B311
            self.call("GET", f"/api/v1/customers/{customer['id']}", "/api/v1/customers/{customer_id}")

    def _order_body(self, customer: dict[str, Any], day: date, urgent: bool = False) -> dict[str, Any]:
        start, end = SLOT_WINDOWS.get(customer.get("slot_code") or 0, SLOT_WINDOWS[0])
        held = [p for p in sorted(customer.get("cylinders") or {}) if not p.startswith("flow-")]
        return {
            "customer_id": customer["id"],
            "scheduled_date": day.isoformat(),
            "window": {"start": "08:00", "end": "18:00"} if urgent else {"start": start, "end": end},
            "items": [{"product": held[0] if held else "cylinder-20-regular", "quantity": random.choice((1, 1, 2))}],  # nosec B311
            "urgent": urgent,
            "additional": True,  # a customer may already have an open order that day
            "payment_method": "cash",
            "source": "call_in",
        }

    def _take_order(self, day: date, urgent: bool = False) -> Any:
        customer = self._a_customer()
        if customer is None:
            return None
        body = self._order_body(customer, day, urgent)
        key = new_key()
        order = self.call(
            "POST",
            "/api/v1/orders",
            "/api/v1/orders",
            ok=(201,),
            accept=(409,),
            body=body,
            headers={"Idempotency-Key": key},
        )
        if order is None:
            return None
        RUN.report("created", order["id"])
        ORDERS_OF_CUSTOMER[order["customer_code"]].append(order["id"])
        if random.random() < 0.05:  # nosec B311 # the line dropped: the same create sent again
            again = self.call(
                "POST",
                "/api/v1/orders",
                "/api/v1/orders (retried)",
                ok=(201, 200),
                body=body,
                headers={"Idempotency-Key": key},
            )
            if again is not None and again.get("id") != order["id"]:
                self.environment.events.request.fire(
                    request_type="CHECK",
                    name="idempotent create",
                    response_time=0,
                    response_length=0,
                    exception=AssertionError(f"a retry made {again.get('id')}, not {order['id']}"),
                    context={},
                )
        if order["status"] == "pending":
            confirmed = self.call("POST", f"/api/v1/orders/{order['id']}/confirm", "/api/v1/orders/{order_id}/confirm")
            return confirmed or order
        return order

    @task(3)
    def take_an_order(self) -> None:
        now = clock.taipei_now()
        # Same-day orders until early afternoon, else for tomorrow.
        today_still = now.hour < 14 and random.random() < 0.3  # nosec B311
        self._take_order(now.date() if today_still else now.date() + timedelta(days=1))

    @task(1)
    def read_due_list(self) -> None:
        tomorrow = clock.taipei_today() + timedelta(days=1)
        self.call("GET", "/api/v1/orders/due", "/api/v1/orders/due?date=", query={"date": tomorrow.isoformat()})

    @task(1)
    def list_orders(self) -> None:
        day = clock.taipei_today() + timedelta(days=random.choice((0, 1)))  # nosec B311
        self.call("GET", "/api/v1/orders", "/api/v1/orders?date=", query={"date": day.isoformat(), "page_size": 50})

    @task(1)
    def read_the_plan(self) -> None:
        plan = self.call(
            "GET",
            "/api/v1/plans",
            "/api/v1/plans?date=",
            accept=(404,),
            query={"date": clock.taipei_today().isoformat()},
        )
        if plan:
            self.call("GET", f"/api/v1/plans/{plan['id']}", "/api/v1/plans/{plan_id}")

    @task(2)
    def lead_dispatcher(self) -> None:
        if not self.account.lead:
            return
        if not self.plan_id and time.monotonic() - self.last_plan_attempt >= PLAN_AFTER_SECONDS:
            self.last_plan_attempt = time.monotonic()
            self._plan_today()
        elif self.plan_id and time.monotonic() - self.last_urgent >= URGENT_EVERY_SECONDS:
            self.last_urgent = time.monotonic()
            order = self._take_order(clock.taipei_today(), urgent=True)
            if order and order.get("status") == "confirmed":
                # 409 when it fits on no route (windows, capacity): the office then calls the customer back.
                self.call(
                    "POST",
                    f"/api/v1/plans/{self.plan_id}/urgent",
                    "/api/v1/plans/{plan_id}/urgent",
                    accept=(409,),
                    body={"order_id": order["id"]},
                )

    def _plan_today(self) -> None:
        today = clock.taipei_today().isoformat()
        current = self.call("GET", "/api/v1/plans", "/api/v1/plans?date=", accept=(404,), query={"date": today})
        if current and current.get("status") == "published":
            self.plan_id = current["id"]
            return
        budget = self.environment.parsed_options.plan_budget if self.environment.parsed_options else 5.0
        # 409 while today has no confirmed order yet: tried again a little later.
        plan = self.call(
            "POST",
            "/api/v1/plans",
            "/api/v1/plans",
            ok=(201,),
            accept=(409,),
            body={"date": today, "time_budget_seconds": budget},
            headers={"Idempotency-Key": new_key()},
        )
        if plan:
            published = self.call("POST", f"/api/v1/plans/{plan['id']}/publish", "/api/v1/plans/{plan_id}/publish")
            if published:
                self.plan_id = published["id"]


# --- drivers' phones -----------------------------------------------------------------------------------------------


class MobileDriverUser(LuckyGasUser):
    """A driver's phone: clocks in, reads the day's route, sends a batch of GPS fixes every 15 s (now and then an
    offline backlog at once), marks stops arrived and delivered with proof, clocks out at the end."""

    wait_time = constant_pacing(15)
    weight = 15

    def on_start(self) -> None:
        super().on_start()
        self.position = (DEPOT[0] + random.uniform(-0.03, 0.03), DEPOT[1] + random.uniform(-0.03, 0.03))  # nosec B311
        self.backlog: list[dict[str, Any]] = []
        self.last_fix = clock.taipei_now()
        self.stops: list[dict[str, Any]] = []
        self.beat = 0
        self.call("POST", "/api/v1/drivers/me/clock-in", "/api/v1/drivers/me/clock-in", accept=(409,))
        self._read_route()

    def on_stop(self) -> None:
        if getattr(self, "session", None) is not None:
            self.call("POST", "/api/v1/drivers/me/clock-out", "/api/v1/drivers/me/clock-out", accept=(409,))
        super().on_stop()

    def _read_route(self) -> None:
        # 404: no published route for this driver today (no shift, or not planned yet).
        route = self.call("GET", "/api/v1/drivers/me/route", "/api/v1/drivers/me/route", accept=(404,))
        if route:
            self.stops = [stop for stop in route.get("stops", []) if stop.get("status") in (None, "", "planned")]

    def _fixes(self) -> list[dict[str, Any]]:
        """A fix a second since the last batch, moving toward the next stop at town speed."""
        now = clock.taipei_now()
        seconds = max(1, min(int((now - self.last_fix).total_seconds()), 60))
        target = (self.stops[0]["latitude"], self.stops[0]["longitude"]) if self.stops else DEPOT
        fixes = []
        for second in range(seconds, 0, -1):
            latitude, longitude = self.position
            step = 0.00008  # about 9 m a second
            latitude += max(-step, min(step, target[0] - latitude)) + random.uniform(-0.00002, 0.00002)  # nosec B311
            longitude += max(-step, min(step, target[1] - longitude)) + random.uniform(-0.00002, 0.00002)  # nosec B311
            self.position = (latitude, longitude)
            fixes.append(
                {
                    "latitude": round(latitude, 6),
                    "longitude": round(longitude, 6),
                    "accuracy_m": 8.0,
                    "speed_mps": 8.3,
                    "battery": 0.8,
                    "device_time": (now - timedelta(seconds=second)).isoformat(),
                }
            )
        self.last_fix = now
        return fixes

    @task
    def drive(self) -> None:
        self.beat += 1
        self.backlog += self._fixes()
        if random.random() < 0.05 and len(self.backlog) < 600:  # nosec B311 # out of signal: keep them
            return
        self.call(
            "POST",
            "/api/v1/drivers/me/positions",
            "/api/v1/drivers/me/positions",
            body={"batch_id": new_key(), "fixes": self.backlog[-2000:]},
        )
        self.backlog = []
        if self.beat % 4 == 0:
            self._read_route()
            self.call("GET", "/api/v1/drivers/me/progress", "/api/v1/drivers/me/progress", accept=(404,))
        if self.stops and self.beat % 3 == 0:
            self._deliver(self.stops.pop(0))

    def _deliver(self, stop: dict[str, Any]) -> None:
        stop_id = stop["id"]
        self.call("POST", f"/api/v1/drivers/me/stops/{stop_id}/arrived", "/api/v1/drivers/me/stops/{stop_id}/arrived")
        items = [{"product": item["product"], "quantity": item["quantity"]} for item in stop.get("deliver", [])]
        self.call(
            "POST",
            f"/api/v1/drivers/me/stops/{stop_id}/delivered",
            "/api/v1/drivers/me/stops/{stop_id}/delivered",
            body={
                "recipient_name": "林小姐",
                "signature_png": SIGNATURE,
                "delivered": items,
                "empties_received": items,
                "residual_gas_kg": round(random.uniform(0, 2), 1),  # nosec B311
            },
            headers={"Idempotency-Key": new_key()},
        )


# --- managers and SREs -------------------------------------------------------------------------------------------


class AdminDashboardUser(LuckyGasUser):
    """A manager's or an SRE's dashboard: flags and their audit, the pilot, readiness, the migration, and (for
    admins) the drivers on the map and their tracks."""

    wait_time = between(5, 20)
    weight = 5

    @task(3)
    def flags(self) -> None:
        self.call("GET", "/api/v1/flags", "/api/v1/flags")
        self.call("GET", "/api/v1/flags/audit", "/api/v1/flags/audit", query={"page_size": 20})

    @task(2)
    def pilot_status(self) -> None:
        self.call("GET", f"/api/v1/flags/{PILOT_FLAG}", "/api/v1/flags/{key}")
        self.call("GET", f"/api/v1/flags/{PILOT_FLAG}/audit", "/api/v1/flags/{key}/audit", query={"page_size": 10})

    @task(2)
    def readiness(self) -> None:
        self.call("GET", "/readyz", "/readyz")

    @task(1)
    def migration_status(self) -> None:
        self.call("GET", "/api/v1/migration/status", "/api/v1/migration/status")

    @task(3)
    def live_map(self) -> None:
        if self.account.role != "admin":
            return  # tracking is the office's (and admins'); an SRE's dashboard has no map
        positions = self.call("GET", "/api/v1/tracking/positions", "/api/v1/tracking/positions") or []
        drivers = self.call("GET", "/api/v1/tracking/drivers", "/api/v1/tracking/drivers") or []
        usernames = [p["driver"] for p in positions] or [d["username"] for d in drivers]
        if usernames:
            self.call(
                "GET",
                f"/api/v1/tracking/drivers/{random.choice(usernames)}/track",  # nosec B311
                "/api/v1/tracking/drivers/{username}/track",
                query={"date": clock.taipei_today().isoformat()},
            )


# --- customers --------------------------------------------------------------------------------------------------


class CustomerUser(LuckyGasUser):
    """A customer's app: who am I, and my orders and their deliveries; some keep the app open on the live feed."""

    wait_time = between(10, 40)
    weight = 55
    LIVE_SHARE = 0.2

    def on_start(self) -> None:
        super().on_start()
        self.live: LiveFeed | None = None
        if random.random() < self.LIVE_SHARE:  # nosec B311 # apps left open
            self.live = LiveFeed(self.environment, self.host or "", lambda: self.session.access_token, self._heard)

    def on_stop(self) -> None:
        if getattr(self, "live", None) is not None and self.live:
            self.live.close()
        super().on_stop()

    def _heard(self, message: dict[str, Any]) -> None:
        payload = message.get("payload") or {}
        order_id = payload.get("order_id") or payload.get("id")
        code = self.account.customer_code
        if code and payload.get("customer_code") == code and order_id:
            known = ORDERS_OF_CUSTOMER[code]
            if order_id not in known:
                known.append(order_id)

    @task(1)
    def who_am_i(self) -> None:
        self.call("GET", "/api/v1/auth/me", "/api/v1/auth/me")

    @task(3)
    def my_orders(self) -> None:
        for order_id in ORDERS_OF_CUSTOMER.get(self.account.customer_code or "", [])[-3:]:
            self.call("GET", f"/api/v1/orders/{order_id}", "/api/v1/orders/{order_id}")


events.init_command_line_parser.add_listener(_arguments)  # type: ignore[no-untyped-call]
events.init.add_listener(_init)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_verify)  # type: ignore[no-untyped-call]
events.quit.add_listener(_write_results)  # type: ignore[no-untyped-call]
