"""The live WebSocket feed through a real uvicorn server and real Redis Streams."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
import websockets
from websockets.exceptions import ConnectionClosed

from services.gateway.app import create_app
from services.gateway.live import LIVE_CLIENTS, LIVE_DROPPED, POSITIONS_CHANNEL, LiveHub
from services.local.stores import free_port
from services.platform.clock import utc_now
from tests.gateway.conftest import gateway_settings

STREAM = "events.order"
# How long to wait for a message that must come: generous, so a saturated machine cannot make it late. How soon
# messages come is measured by `make bench-tracking` (positions) and the luckygas_gateway_live_delay_seconds
# histogram, not asserted here.
WAIT_SECONDS = 30.0


@pytest.fixture
async def live_url(customer_server: int, redis_client: aioredis.Redis) -> AsyncIterator[str]:
    port = free_port()
    app = create_app(gateway_settings(f"127.0.0.1:{customer_server}"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes readiness only as a flag
        await asyncio.sleep(0.01)
    yield f"ws://127.0.0.1:{port}/api/v1/live"
    server.should_exit = True
    await serving


async def publish(redis: aioredis.Redis, customer_code: str = "1000001", padding: int = 0) -> str:
    """XADD an order event the way the order service's outbox relay does."""
    payload = {"order_id": str(uuid.uuid4()), "customer_code": customer_code, "status": "pending", "pad": "x" * padding}
    return await publish_event(redis, STREAM, "order.created", payload, payload["order_id"])


async def publish_event(
    redis: aioredis.Redis, stream: str, event_type: str, payload: dict[str, Any], aggregate_id: str
) -> str:
    """XADD an event to a stream the way each service's outbox relay does; its cursor."""
    entry = await redis.xadd(
        stream,
        {
            "id": str(uuid.uuid4()),
            "type": event_type,
            "aggregate_id": aggregate_id,
            "aggregate_version": "1",
            "occurred_at": utc_now().isoformat(),
            "schema_version": "1",
            "payload": json.dumps(payload),
        },
    )
    return f"{stream}/{entry.decode() if isinstance(entry, bytes) else entry}"


async def receive(connection: Any, within: float = WAIT_SECONDS) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(connection.recv(), within))


async def ready(connection: Any) -> None:
    """Wait for the feed's promise that nothing published from now on will be missed."""
    assert (await receive(connection))["type"] == "live.ready"


def stalled_websocket(url: str) -> socket.socket:
    """A client that completes the WebSocket handshake and then never reads a byte."""
    parts = urllib.parse.urlsplit(url)
    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.connect((parts.hostname, parts.port))
    key = base64.b64encode(os.urandom(16)).decode()
    connection.sendall(
        (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    assert connection.recv(12) == b"HTTP/1.1 101"
    return connection


async def test_office_user_receives_an_event_as_it_is_published(
    live_url: str, tokens: dict[str, str], redis_client: aioredis.Redis
) -> None:
    async with websockets.connect(f"{live_url}?access_token={tokens['dispatcher']}") as connection:
        await ready(connection)
        cursor = await publish(redis_client)
        message = await receive(connection)

    assert message["cursor"] == cursor
    assert message["type"] == "order.created"
    assert message["payload"]["customer_code"] == "1000001"


def every_kind_of_event() -> list[tuple[str, str, dict[str, Any]]]:
    """(stream, type, payload): one of each kind the feed carries, as the services' relays publish them."""
    order_id, route_id, stop_id = (str(uuid.uuid4()) for _ in range(3))
    route = {"route_id": route_id, "plan_id": str(uuid.uuid4()), "date": "2030-01-02", "stops": []}
    return [
        ("events.order", "order.confirmed", {"order_id": order_id, "customer_code": "1000001", "status": "confirmed"}),
        ("events.order", "delivery.completed", {"order_id": order_id, "customer_code": "1000001"}),
        ("events.route", "route.published", route),
        ("events.route", "route.updated", route),
        ("events.tracking", "stop.arrived", {"route_id": route_id, "stop_id": stop_id, "order_id": order_id}),
    ]


async def test_office_users_receive_order_delivery_route_and_arrival_events(
    live_url: str, tokens: dict[str, str], redis_client: aioredis.Redis
) -> None:
    async with websockets.connect(f"{live_url}?access_token={tokens['dispatcher']}") as connection:
        await ready(connection)
        published = [
            await publish_event(redis_client, stream, kind, payload, str(uuid.uuid4()))
            for stream, kind, payload in every_kind_of_event()
        ]
        received = [await receive(connection) for _ in published]

    # Streams are read together, so events of different streams may come in any order; each comes once.
    assert sorted(message["cursor"] for message in received) == sorted(published)
    assert {message["type"] for message in received} == {kind for _, kind, _ in every_kind_of_event()}
    assert {message["stream"] for message in received} == {"events.order", "events.route", "events.tracking"}


async def test_reconnecting_with_a_cursor_per_stream_misses_nothing_of_any_stream(
    live_url: str, tokens: dict[str, str], redis_client: aioredis.Redis
) -> None:
    url = f"{live_url}?access_token={tokens['dispatcher']}"
    kinds = every_kind_of_event()
    async with websockets.connect(url) as connection:
        await ready(connection)
        last = {}
        for stream, kind, payload in kinds:
            last[stream] = await publish_event(redis_client, stream, kind, payload, str(uuid.uuid4()))
        for _ in kinds:
            await receive(connection)

    missed = [await publish_event(redis_client, s, k, p, str(uuid.uuid4())) for s, k, p in kinds]
    resume = "&".join(f"after={urllib.parse.quote(cursor)}" for cursor in last.values())

    async with websockets.connect(f"{url}&{resume}") as connection:
        replayed = [(await receive(connection))["cursor"] for _ in missed]
        await ready(connection)
    assert sorted(replayed) == sorted(missed)


async def test_customer_sees_only_their_own_orders(
    live_url: str, tokens: dict[str, str], redis_client: aioredis.Redis
) -> None:
    async with websockets.connect(f"{live_url}?access_token={tokens['customer']}") as connection:
        await ready(connection)
        await publish(redis_client, customer_code="1000002")
        for stream, kind, payload in every_kind_of_event()[2:]:  # routes and arrivals are the office's
            await publish_event(redis_client, stream, kind, payload, str(uuid.uuid4()))
        own = await publish(redis_client, customer_code="1000001")
        message = await receive(connection)

    assert message["cursor"] == own


@pytest.mark.parametrize(("role", "code"), [(None, 4401), ("driver", 4403), ("sre", 4403)])
async def test_unauthenticated_and_other_roles_are_closed(
    live_url: str, tokens: dict[str, str], role: str | None, code: int
) -> None:
    url = f"{live_url}?access_token={tokens[role]}" if role else live_url
    async with websockets.connect(url) as connection:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(connection)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code


async def test_a_socket_whose_token_is_revoked_is_closed_and_cannot_reconnect(
    live_url: str, tokens: dict[str, str]
) -> None:
    url = f"{live_url}?access_token={tokens['dispatcher']}"
    gateway = live_url.replace("ws://", "http://", 1).removesuffix("/api/v1/live")
    async with websockets.connect(url) as connection:
        await ready(connection)
        async with httpx.AsyncClient(base_url=gateway) as client:
            out = await client.post(
                "/api/v1/auth/logout-all", headers={"Authorization": f"Bearer {tokens['dispatcher']}"}
            )
        assert out.status_code == 204, out.text
        with pytest.raises(ConnectionClosed) as closed:
            await receive(connection)
    async with websockets.connect(url) as again:
        with pytest.raises(ConnectionClosed) as refused:
            await receive(again)

    for ended in (closed.value, refused.value):
        assert ended.rcvd is not None
        assert (ended.rcvd.code, "revoked" in ended.rcvd.reason) == (4401, True)


async def test_reconnecting_with_the_last_cursor_misses_nothing(
    live_url: str, tokens: dict[str, str], redis_client: aioredis.Redis
) -> None:
    url = f"{live_url}?access_token={tokens['dispatcher']}"
    async with websockets.connect(url) as connection:
        await ready(connection)
        first = await publish(redis_client)
        assert (await receive(connection))["cursor"] == first

    missed = [await publish(redis_client) for _ in range(3)]  # published while disconnected

    async with websockets.connect(f"{url}&after={first}") as connection:
        replayed = [(await receive(connection))["cursor"] for _ in range(3)]
        await ready(connection)
        later = await publish(redis_client)
        assert (await receive(connection))["cursor"] == later
    assert replayed == missed


async def test_a_stalled_client_is_dropped_without_slowing_the_others(
    live_url: str, tokens: dict[str, str], redis_client: aioredis.Redis
) -> None:
    url = f"{live_url}?access_token={tokens['dispatcher']}"
    stalled = await asyncio.to_thread(stalled_websocket, url)
    try:
        async with websockets.connect(url) as healthy:
            await ready(healthy)
            dropped_before = LIVE_DROPPED._value.get()
            published = [await publish(redis_client, padding=16_000) for _ in range(1000)]

            received = [(await receive(healthy))["cursor"] for _ in published]

            assert received == published
            assert LIVE_DROPPED._value.get() == dropped_before + 1
            # The stalled connection is let go: only the healthy client stays subscribed.
            deadline = time.monotonic() + WAIT_SECONDS
            while LIVE_CLIENTS._value.get() != 1 and time.monotonic() < deadline:  # noqa: ASYNC110 - a gauge
                await asyncio.sleep(0.05)
            assert LIVE_CLIENTS._value.get() == 1
    finally:
        stalled.close()


# --- drivers' positions (Redis pub/sub ``positions.live``, published by the tracking service) -------------------


def position(driver: str, latitude: float) -> dict[str, Any]:
    now = utc_now().isoformat()
    return {"driver": driver, "latitude": latitude, "longitude": 121.15, "device_time": now, "received_at": now}


async def publish_position(redis: aioredis.Redis, message: dict[str, Any]) -> None:
    await redis.publish(POSITIONS_CHANNEL, json.dumps(message))


async def next_position(connection: Any) -> dict[str, Any]:
    while True:
        message = await receive(connection)
        if message.get("type") == "driver.position":
            return message


async def test_office_users_see_drivers_move_and_customers_do_not(
    live_url: str, tokens: dict[str, str], redis_client: aioredis.Redis
) -> None:
    async with (
        websockets.connect(f"{live_url}?access_token={tokens['dispatcher']}") as office,
        websockets.connect(f"{live_url}?access_token={tokens['customer']}") as customer,
    ):
        await ready(office)
        await ready(customer)
        # The hub subscribes to the channel when it starts, and pub/sub keeps nothing for a subscriber yet to come:
        # publish again until the office sees one (each try waits briefly; the whole is bounded generously).
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            await publish_position(redis_client, position("driver03", 22.75))
            try:
                seen = await asyncio.wait_for(next_position(office), 0.2)
                break
            except TimeoutError:
                assert time.monotonic() < deadline, "no position reached the office client"
        await publish_position(redis_client, position("driver03", 22.76))
        moved = await next_position(office)
        while moved["payload"]["latitude"] == 22.75:  # a try that timed out may deliver its position late: skip it
            moved = await next_position(office)
        # Silence, checked only once the office has had the same position: a short wait is enough.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(customer.recv(), 0.3)

    assert seen["payload"]["driver"] == "driver03"
    assert moved["payload"]["latitude"] == 22.76


async def test_a_client_not_keeping_up_gets_the_newest_position_per_driver_not_a_backlog(
    redis_client: aioredis.Redis,
) -> None:
    hub = LiveHub(redis_client, ())
    client = hub.subscribe(lambda message: True, positions=True)
    customer = hub.subscribe(lambda message: True)
    for step in range(50):
        hub.dispatch_position(position("driver01", 22.0 + step / 100))
        hub.dispatch_position(position("driver02", 23.0 + step / 100))

    taken = client.take_positions()

    assert sorted((p.payload["driver"], p.payload["latitude"]) for p in taken) == [
        ("driver01", 22.49),
        ("driver02", 23.49),
    ]
    assert all(json.loads(p.text) == {"type": "driver.position", "payload": p.payload} for p in taken)
    assert not client.positions_waiting.is_set()
    assert customer.take_positions() == []
