"""The in-process flag copy and the watcher that keeps it current from the stream and Redis."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from luckygas.flags.v1 import flags_pb2

from services.platform.flags.engine import Reason, parse_flag
from services.platform.flags.local import CHANGES_CHANNEL, FlagChange, FlagStore, FlagWatcher
from services.platform.grpc_server import GrpcServer
from tests.platform.conftest import eventually
from tests.platform.flags.conftest import (
    WatchOnlyFlagService,
    boolean_definition,
    flag_message,
    start_flag_service,
)

# How long to wait for what must happen: generous, so a saturated machine cannot make it late.
WAIT_SECONDS = 30.0


async def until(check: Callable[[], bool], within: float = WAIT_SECONDS) -> None:
    async def holds() -> bool:
        return check()

    await eventually(holds, within)


def change(key: str, version: int, default: str = "off", state: str = "ENABLED") -> FlagChange:
    return FlagChange(key, version, parse_flag(key, boolean_definition(default, state), version=version))


def value(store: FlagStore, key: str) -> Any:
    return store.evaluate(key, {}, expected_type=bool, default=None).value


# --- the store --------------------------------------------------------------------------------------------------


def test_a_full_set_replaces_everything_and_marks_the_store_loaded() -> None:
    store = FlagStore()
    store.replace_all([change("a", 1), change("b", 1)], revision=2)
    assert (store.revision, sorted(store.flags()), store.loaded.is_set()) == (2, ["a", "b"], True)
    store.replace_all([change("b", 2, "on")], revision=3)
    assert (store.get("a"), value(store, "b"), store.revision) == (None, True, 3)
    assert store.last_applied_at is not None


def test_a_change_older_than_the_held_version_is_ignored() -> None:
    store = FlagStore()
    store.apply_changes([change("a", 3, "on")], revision=5)
    store.apply_changes([change("a", 2, "off")], revision=4)  # a late duplicate from the other channel
    assert value(store, "a") is True
    assert store.revision == 5


def test_a_deletion_is_not_undone_by_a_late_change() -> None:
    store = FlagStore()
    store.apply_changes([change("a", 1)], revision=1)
    store.apply_changes([FlagChange("a", 2, None)], revision=2)
    store.apply_changes([change("a", 1)], revision=1)
    assert store.get("a") is None
    assert store.evaluate("a", {}).error_code == "FLAG_NOT_FOUND"


def test_a_full_set_keeps_changes_that_arrived_after_it_was_taken() -> None:
    store = FlagStore()
    store.apply_changes([change("a", 2, "on"), change("new", 1)], revision=10)
    store.replace_all([change("a", 1, "off")], revision=9)
    assert value(store, "a") is True
    assert store.get("new") is not None
    assert store.revision == 10


def test_listeners_hear_which_flags_changed() -> None:
    store = FlagStore()
    heard: list[set[str]] = []
    store.add_listener(heard.append)
    store.replace_all([change("a", 1), change("b", 1)], revision=1)
    store.replace_all([change("a", 1), change("b", 2, "on")], revision=2)
    store.apply_changes([change("b", 2, "on")], revision=2)  # nothing new: nobody is told
    assert heard == [{"a", "b"}, {"b"}]


def test_a_broken_listener_does_not_stop_updates() -> None:
    store = FlagStore()
    store.add_listener(lambda _keys: 1 / 0)  # type: ignore[func-returns-value]
    store.apply_changes([change("a", 1, "on")], revision=1)
    assert value(store, "a") is True


def test_a_definition_that_does_not_parse_leaves_the_last_good_one() -> None:
    store = FlagStore()
    store.apply_flag_set(
        flags_pb2.FlagSet(flags=[flag_message("a", boolean_definition("on"), 1)], revision=1, full=True)
    )
    broken = flags_pb2.Flag(key="a", definition_json='{"state": "MAYBE"}', version=2)
    store.apply_flag_set(flags_pb2.FlagSet(flags=[broken], revision=2))
    assert value(store, "a") is True
    assert store.revision == 2


def test_pubsub_messages_in_the_flag_services_format_are_applied() -> None:
    store = FlagStore()
    message = {
        "revision": 4,
        "flags": [
            {
                "key": "a",
                "definition_json": json.dumps(boolean_definition("on")),
                "description": "",
                "version": 2,
                "deleted": False,
                "updated_at": "2025-05-21T08:00:00+08:00",
                "updated_by": "sre",
            }
        ],
    }
    assert store.apply_message(json.dumps(message)) == {"a"}
    assert (value(store, "a"), store.revision) == (True, 4)
    with pytest.raises(ValueError, match="not a flag change message"):
        store.apply_message('{"revision": 5}')


# --- the watcher ------------------------------------------------------------------------------------------------


async def test_the_watcher_loads_the_full_set_then_follows_changes(
    flag_service: tuple[WatchOnlyFlagService, GrpcServer],
) -> None:
    service, running = flag_service
    service.change("new-order-flow", boolean_definition("off"))
    store = FlagStore()
    async with FlagWatcher(store, f"127.0.0.1:{running.port}", watcher="order") as watcher:
        assert await watcher.wait_until_loaded(within=WAIT_SECONDS)
        assert value(store, "new-order-flow") is False
        assert watcher.stream_connected
        service.change("new-order-flow", boolean_definition("off", state="DISABLED"))
        await until(lambda: store.evaluate("new-order-flow", {}).reason is Reason.DISABLED)
        service.change("new-order-flow", None)
        await until(lambda: store.get("new-order-flow") is None)
    assert service.watcher_names == ["order"]
    assert not watcher.stream_connected


def failed_streams(caplog: pytest.LogCaptureFixture) -> int:
    """The watch stream's failures so far: the watcher logs each one (then retries after its backoff)."""
    return sum(1 for record in caplog.records if str(record.msg).startswith("flag watch stream failed"))


async def test_the_watcher_serves_the_last_flags_while_the_service_is_down_and_resyncs_after(
    flag_service: tuple[WatchOnlyFlagService, GrpcServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="services.platform.flags.local")
    service, running = flag_service
    service.change("a", boolean_definition("on"))
    store = FlagStore()
    async with FlagWatcher(store, f"127.0.0.1:{running.port}", watcher="order", max_backoff=0.2) as watcher:
        assert await watcher.wait_until_loaded(within=WAIT_SECONDS)
        await running.stop(grace=0)
        await until(lambda: not watcher.stream_connected)
        await until(lambda: failed_streams(caplog) >= 3)  # a few failed reconnects, counted rather than timed
        assert value(store, "a") is True  # fail static
        service.change("a", boolean_definition("off"))  # changed while this process could not hear it
        service.change("b", boolean_definition("on"))
        restarted = await start_flag_service(service, port=running.port)
        try:
            await until(lambda: value(store, "a") is False and value(store, "b") is True)
            assert watcher.stream_connected
        finally:
            await restarted.stop(grace=0)


async def test_redis_delivers_changes_without_the_stream(redis_client: aioredis.Redis) -> None:
    store = FlagStore()
    async with FlagWatcher(store, None, watcher="order", redis=redis_client) as watcher:
        await asyncio.wait_for(watcher.redis_subscribed.wait(), WAIT_SECONDS)
        await redis_client.publish(CHANGES_CHANNEL, "not json")
        payload = {
            "revision": 1,
            "flags": [
                {"key": "a", "definition_json": json.dumps(boolean_definition("on")), "version": 1, "deleted": False}
            ],
        }
        await redis_client.publish(CHANGES_CHANNEL, json.dumps(payload))
        await until(lambda: value(store, "a") is True)


async def test_an_unreachable_redis_and_flag_service_raise_nothing() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    redis_down = aioredis.from_url(f"redis://127.0.0.1:{closed_port}", socket_connect_timeout=0.2)
    store = FlagStore()
    store.apply_changes([change("a", 1, "on")], revision=1)
    watcher = FlagWatcher(store, f"127.0.0.1:{closed_port}", watcher="order", redis=redis_down, max_backoff=0.1)
    watcher.start()
    try:
        assert not await watcher.wait_until_loaded(within=0.5)
        assert value(store, "a") is True
        assert all(not task.done() for task in watcher._tasks)  # still retrying, not crashed
    finally:
        await watcher.stop()
        await redis_down.aclose()
