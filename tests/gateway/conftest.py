"""The gateway's ASGI app against a real customer gRPC server, Postgres and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import cache

import httpx
import pytest
from fastapi import FastAPI

from services.flags.app import RunningFlagService
from services.gateway.app import create_app
from services.gateway.models import User
from services.gateway.problems import UNEXPECTED_ERRORS
from services.gateway.settings import GatewaySettings
from services.gateway.tokens import AccessClaims, TokenSigner, hash_password
from services.platform.database import Database
from tests.timing import CALL_DEADLINE_SECONDS

PASSWORD = "correct horse battery staple"
ROLES = ["admin", "dispatcher", "driver", "customer", "sre"]
TEST_SECRET = "test-secret-" + "x" * 32


def unexpected_errors() -> float:
    """How many requests so far ended in an unexpected error in the gateway or a service behind it."""
    return sum(sample.value for sample in UNEXPECTED_ERRORS.collect()[0].samples if sample.name.endswith("_total"))


@pytest.fixture(autouse=True)
def no_unexpected_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails any gateway test during which a request ended in an unexpected error (the gateway counts each one;
    its log line and the response carry the trace id), whatever the test itself asserted."""
    before = unexpected_errors()
    yield
    happened = unexpected_errors() - before
    if happened and request.node.get_closest_marker("unexpected_errors") is None:
        pytest.fail(f"{happened:g} request(s) ended in an unexpected error (a 500 or 502): see the log above")


@cache
def password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 is slow on purpose; hash once per session


def gateway_settings(customer_address: str, **overrides: object) -> GatewaySettings:
    values: dict[str, object] = {
        "customer_address": customer_address,
        "jwt_secret": TEST_SECRET,
        "access_log": False,
        "call_deadline_seconds": CALL_DEADLINE_SECONDS,
    }
    values.update(overrides)
    return GatewaySettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def make_gateway() -> AsyncIterator[Callable[..., Awaitable[httpx.AsyncClient]]]:
    """Start a gateway app (lifespan included) against the given customer address; closed after the test."""
    opened: list[tuple[FastAPI, httpx.AsyncClient, object]] = []

    async def start(customer_address: str, **overrides: object) -> httpx.AsyncClient:
        app = create_app(gateway_settings(customer_address, **overrides))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test")
        opened.append((app, client, lifespan))
        return client

    yield start
    for _, client, lifespan in reversed(opened):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]


@pytest.fixture
async def gateway(
    make_gateway: Callable[..., Awaitable[httpx.AsyncClient]],
    customer_server: int,
    order_server: int,
    flag_server: RunningFlagService,
    redis_client: object,
) -> httpx.AsyncClient:
    return await make_gateway(
        f"127.0.0.1:{customer_server}",
        order_address=f"127.0.0.1:{order_server}",
        flags_address=f"127.0.0.1:{flag_server.port}",
    )


@pytest.fixture
async def users(database: Database) -> dict[str, uuid.UUID]:
    """One user per role, username = role name; returns role → user id."""
    ids = {role: uuid.uuid4() for role in ROLES}
    async with database.session() as session:
        for role in ROLES:
            session.add(
                User(
                    id=ids[role],
                    username=role,
                    role=role,
                    password_hash=password_hash(),
                    customer_code="1000001" if role == "customer" else None,
                )
            )
    return ids


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"username": username, "password": password})


@pytest.fixture
def tokens(gateway: httpx.AsyncClient, users: dict[str, uuid.UUID]) -> dict[str, str]:
    """role → access token, signed by the gateway's own signer (login itself is tested in test_auth)."""
    signer = TokenSigner(TEST_SECRET, access_seconds=600, refresh_seconds=3600)
    return {
        role: signer.access_token(AccessClaims(user_id, role, role, "1000001" if role == "customer" else None))
        for role, user_id in users.items()
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def platform_gateway(
    make_gateway: Callable[..., Awaitable[httpx.AsyncClient]],
    customer_server: int,
    order_server: int,
    routing_server: int,
    tracking_server: int,
    flag_server: RunningFlagService,
    redis_client: object,
) -> httpx.AsyncClient:
    """A gateway in front of every real service: customer, order, routing, tracking and flags."""
    return await make_gateway(
        f"127.0.0.1:{customer_server}",
        order_address=f"127.0.0.1:{order_server}",
        routing_address=f"127.0.0.1:{routing_server}",
        tracking_address=f"127.0.0.1:{tracking_server}",
        flags_address=f"127.0.0.1:{flag_server.port}",
    )
