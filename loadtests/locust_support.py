"""Plumbing of the Locust scenarios (locustfile.py): accounts handed out once each, sessions that log in and refresh
like the apps do, the live feed with its message latency, and the run's tallies, checked at the end.

Works in one process and under Locust's master/worker processes alike: the master (or the only process) owns the
accounts and the tallies; workers ask it for an account and send it what they must report (an order created, a
5xx, a user's request count) as Locust custom messages, so a worker needs neither the accounts file nor a share of
the results.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent  # type: ignore[import-untyped]
import requests
import websocket
from gevent.event import AsyncResult  # type: ignore[import-untyped]
from gevent.pool import Pool  # type: ignore[import-untyped]
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import RequestStats, StatsEntry

from services.platform import clock

_log = logging.getLogger("luckygas.load")

# Which user class plays which role in the accounts file (`luckygas load accounts`).
CLASS_OF_ROLE = {
    "dispatcher": "MixedWorkloadUser",
    "driver": "MobileDriverUser",
    "admin": "AdminDashboardUser",
    "sre": "AdminDashboardUser",
    "customer": "CustomerUser",
}
OFFICE_ROLES = ("dispatcher", "admin")
# Refresh the access token this long before it expires, as the apps do.
REFRESH_MARGIN_SECONDS = 60.0
LOGIN_RETRIES = 5
ACCOUNT_WAIT_SECONDS = 60.0
VERIFY_CONCURRENCY = 20
VERIFY_TIMEOUT_SECONDS = 30.0
WS_REQUEST_TYPE = "WS"


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    role: str
    customer_code: str | None = None
    lead: bool = False  # the one office user who plans and publishes the day


def read_accounts(path: Path) -> list[Account]:
    document = json.loads(path.read_text())
    password = str(document["password"])
    accounts = [
        Account(str(row["username"]), password, str(row["role"]), row.get("customer_code") or None)
        for row in document["accounts"]
        if row["role"] in CLASS_OF_ROLE
    ]
    # The lead planner: the first dispatcher (else the first admin).
    for role in OFFICE_ROLES:
        for index, account in enumerate(accounts):
            if account.role == role:
                accounts[index] = Account(account.username, password, role, account.customer_code, lead=True)
                return accounts
    return accounts


def class_counts(accounts: list[Account]) -> Counter[str]:
    return Counter(CLASS_OF_ROLE[account.role] for account in accounts)


# --- the run's state: accounts and tallies, owned by the master or the only process ---------------------------------


@dataclass
class Tally:
    created_orders: list[str] = field(default_factory=list)
    server_errors: Counter[str] = field(default_factory=Counter)
    requests_by_class: Counter[str] = field(default_factory=Counter)
    users_by_class: Counter[str] = field(default_factory=Counter)
    unserved_users: int = 0


class Run:
    """The accounts still free, the tallies, and how a user reaches them from whichever process it runs in."""

    def __init__(self) -> None:
        self.environment: Environment | None = None
        self.free: dict[str, deque[Account]] = {}
        self.verifier: Account | None = None
        self.tally = Tally()
        self.verification: dict[str, Any] = {}
        self._waiting: dict[str, AsyncResult] = {}

    # set-up, from locustfile's init listener
    def attach(self, environment: Environment, accounts_path: str) -> None:
        self.environment = environment
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            runner.register_message("luckygas.account", self._granted)
            return
        accounts = read_accounts(Path(accounts_path))
        if not accounts:
            raise SystemExit(f"{accounts_path} lists no accounts")
        for account in accounts:
            self.free.setdefault(CLASS_OF_ROLE[account.role], deque()).append(account)
        self.verifier = next((a for a in accounts if a.role in OFFICE_ROLES), None)
        counts = class_counts(accounts)
        for user_class in environment.user_classes:
            user_class.weight = counts[user_class.__name__]
        environment.user_classes[:] = [cls for cls in environment.user_classes if cls.weight > 0]
        if isinstance(runner, MasterRunner):
            runner.register_message("luckygas.account_request", self._grant_to_worker)
            runner.register_message("luckygas.report", self._reported)

    # accounts
    def take_account(self, class_name: str) -> Account | None:
        runner = self.environment.runner if self.environment else None
        if not isinstance(runner, WorkerRunner):
            return self._pop(class_name)
        request_id = uuid.uuid4().hex
        waiting = self._waiting[request_id] = AsyncResult()
        runner.send_message("luckygas.account_request", {"class": class_name, "request": request_id})
        try:
            granted = waiting.get(timeout=ACCOUNT_WAIT_SECONDS)
        finally:
            self._waiting.pop(request_id, None)
        return Account(**granted) if granted else None

    def _pop(self, class_name: str) -> Account | None:
        free = self.free.get(class_name)
        return free.popleft() if free else None

    def _grant_to_worker(self, environment: Environment, msg: Any, **kwargs: Any) -> None:
        account = self._pop(msg.data["class"])
        granted = account.__dict__ if account else None
        environment.runner.send_message(  # type: ignore[union-attr]
            "luckygas.account", {"request": msg.data["request"], "account": granted}, client_id=msg.node_id
        )

    def _granted(self, environment: Environment, msg: Any, **kwargs: Any) -> None:
        waiting = self._waiting.get(msg.data["request"])
        if waiting is not None:
            waiting.set(msg.data["account"])

    # reports
    def report(self, kind: str, value: Any) -> None:
        runner = self.environment.runner if self.environment else None
        if isinstance(runner, WorkerRunner):
            runner.send_message("luckygas.report", {"kind": kind, "value": value})
        else:
            self._record(kind, value)

    def _reported(self, environment: Environment, msg: Any, **kwargs: Any) -> None:
        self._record(msg.data["kind"], msg.data["value"])

    def _record(self, kind: str, value: Any) -> None:
        match kind:
            case "created":
                self.tally.created_orders.append(value)
            case "server_error":
                self.tally.server_errors[value] += 1
            case "user_done":
                self.tally.requests_by_class[value["class"]] += value["requests"]
                self.tally.users_by_class[value["class"]] += 1
            case "unserved":
                self.tally.unserved_users += 1

    # the end
    def verify_orders(self, host: str) -> None:
        """Every order a user was told was created must exist: each one read back through the API."""
        created = sorted(set(self.tally.created_orders))
        result: dict[str, Any] = {"created": len(created), "verified": 0, "missing": [], "unverifiable": []}
        self.verification = result
        if not created:
            return
        if self.verifier is None:
            result["unverifiable"] = created
            return
        session = requests.Session()
        answer = session.post(
            f"{host}/api/v1/auth/login",
            json={"username": self.verifier.username, "password": self.verifier.password},
            timeout=VERIFY_TIMEOUT_SECONDS,
        )
        if answer.status_code != 200:
            _log.error("cannot log in to verify the orders: %s %s", answer.status_code, answer.text[:200])
            result["unverifiable"] = created
            return
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}

        def check(order_id: str) -> None:
            try:
                found = session.get(f"{host}/api/v1/orders/{order_id}", headers=headers, timeout=VERIFY_TIMEOUT_SECONDS)
            except requests.RequestException:
                result["unverifiable"].append(order_id)
                return
            if found.status_code == 200 and found.json().get("id") == order_id:
                result["verified"] += 1
            elif found.status_code == 404:
                result["missing"].append(order_id)
            else:
                result["unverifiable"].append(order_id)

        Pool(VERIFY_CONCURRENCY).map(check, created)
        _log.info("created orders: %s read back, %s missing", result["verified"], len(result["missing"]))


RUN = Run()


def http_figures(stats: RequestStats, entries: Iterator[StatsEntry], name: str) -> dict[str, Any]:
    """Count, failures and percentiles of the given entries merged into one."""
    merged = StatsEntry(stats, name, "", use_response_times_cache=False)
    for entry in entries:
        merged.extend(entry)
    return entry_figures(merged)


def entry_figures(entry: StatsEntry) -> dict[str, Any]:
    count = entry.num_requests
    return {
        "count": count,
        "failures": entry.num_failures,
        "p50_ms": entry.get_response_time_percentile(0.50) if count else 0,
        "p95_ms": entry.get_response_time_percentile(0.95) if count else 0,
        "p99_ms": entry.get_response_time_percentile(0.99) if count else 0,
        "max_ms": entry.max_response_time if count else 0,
        "rps": entry.total_rps,
    }


# --- what a user holds: its login and its live feed ------------------------------------------------------------------


class Session:
    """One account's login on one user's HTTP client: logs in once, refreshes before the access token expires."""

    def __init__(self, client: Any, account: Account) -> None:
        self.client = client
        self.account = account
        self.access_token = ""  # nosec B105 # none yet: set by log_in
        self.refresh_token = ""  # nosec B105 # none yet: set by log_in
        self.expires_at = 0.0

    def _take(self, body: dict[str, Any]) -> None:
        self.access_token = body["access_token"]
        self.refresh_token = body["refresh_token"]
        self.expires_at = time.monotonic() + float(body["expires_in"])

    def log_in(self) -> bool:
        credentials = {"username": self.account.username, "password": self.account.password}
        for attempt in range(LOGIN_RETRIES):
            with self.client.post(
                "/api/v1/auth/login", json=credentials, name="/api/v1/auth/login", catch_response=True
            ) as answer:
                if answer.status_code == 200:
                    self._take(answer.json())
                    return True
                answer.failure(f"login {answer.status_code}: {answer.text[:200]}")
                retry_after = answer.headers.get("retry-after") if answer.headers else None
            # Refused (429 when over the address's limit): try again later, as a person would.
            gevent.sleep(float(retry_after or 5 * (attempt + 1)) + random.uniform(0, 3))  # nosec B311 # jitter
        return False

    def headers(self) -> dict[str, str]:
        if self.refresh_token and time.monotonic() > self.expires_at - REFRESH_MARGIN_SECONDS:
            with self.client.post(
                "/api/v1/auth/refresh",
                json={"refresh_token": self.refresh_token},
                name="/api/v1/auth/refresh",
                catch_response=True,
            ) as answer:
                if answer.status_code == 200:
                    self._take(answer.json())
                else:
                    answer.failure(f"refresh {answer.status_code}: {answer.text[:200]}")
        return {"Authorization": f"Bearer {self.access_token}"}


def _latency_ms(moment: str | None) -> float | None:
    if not moment:
        return None
    try:
        then = datetime.fromisoformat(moment)
    except ValueError:
        return None
    return max((clock.utc_now() - then).total_seconds() * 1000, 0.0)


class LiveFeed:
    """The office map's (or a customer app's) WebSocket: its connect time and every message's latency, from the
    event's ``occurred_at`` (a position's ``received_at``) to the moment it is read here, as Locust request events
    of type WS. Both clocks must agree, as they do on one machine (against a cluster: NTP on both sides)."""

    def __init__(
        self,
        environment: Environment,
        host: str,
        token: Callable[[], str],
        on_message: Callable[[dict[str, Any]], None],
    ) -> None:
        parts = urlsplit(host)
        scheme = "wss" if parts.scheme == "https" else "ws"
        self.url = f"{scheme}://{parts.netloc}/api/v1/live"
        self.environment = environment
        self.token = token
        self.on_message = on_message
        self.cursors: dict[str, str] = {}
        self.running = True
        self.connection: websocket.WebSocket | None = None
        self.greenlet = gevent.spawn(self._follow)

    def _fire(self, name: str, milliseconds: float, length: int, error: Exception | None = None) -> None:
        self.environment.events.request.fire(  # type: ignore[no-untyped-call]
            request_type=WS_REQUEST_TYPE,
            name=name,
            response_time=milliseconds,
            response_length=length,
            exception=error,
            context={},
        )

    def _connect(self) -> websocket.WebSocket:
        query = f"?access_token={self.token()}" + "".join(f"&after={cursor}" for cursor in self.cursors.values())
        started = time.perf_counter()
        connection = websocket.create_connection(self.url + query, timeout=30)
        while True:  # the replay (after a reconnect), then live.ready
            message = json.loads(connection.recv())
            if message.get("type") == "live.ready":
                break
            self._received(message, 0)
        self._fire("/api/v1/live (connect until live.ready)", (time.perf_counter() - started) * 1000, 0)
        connection.settimeout(None)
        return connection

    def _received(self, message: dict[str, Any], length: int) -> None:
        kind = str(message.get("type", ""))
        if kind == "driver.position":
            latency = _latency_ms((message.get("payload") or {}).get("received_at"))
            name = "/api/v1/live driver.position"
        else:
            if message.get("cursor") and message.get("stream"):
                self.cursors[str(message["stream"])] = str(message["cursor"])
            latency = _latency_ms(message.get("occurred_at"))
            name = f"/api/v1/live {kind.split('.')[0]}.*"
        if latency is not None:
            self._fire(name, latency, length)
        self.on_message(message)

    def _follow(self) -> None:
        while self.running:
            try:
                self.connection = self._connect()
                while self.running:
                    raw = self.connection.recv()
                    if not raw:
                        raise websocket.WebSocketConnectionClosedException("closed by the gateway")
                    self._received(json.loads(raw), len(raw))
            except (websocket.WebSocketException, OSError, ValueError) as error:
                if not self.running:
                    return
                self._fire("/api/v1/live (dropped)", 0, 0, error)
                gevent.sleep(2 + random.uniform(0, 2))  # nosec B311 # reconnect jitter

    def close(self) -> None:
        self.running = False
        if self.connection is not None:
            with contextlib.suppress(websocket.WebSocketException, OSError):
                self.connection.close()
        self.greenlet.kill(block=False)


def new_key() -> str:
    return str(uuid.uuid4())
