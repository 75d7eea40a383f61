"""WatchFlags: the full set first, then each change, from this replica's writes, other replicas' and the database."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
from luckygas.flags.v1 import flags_pb2 as pb
from luckygas.flags.v1 import flags_pb2_grpc

from services.flags.app import RunningFlagService
from services.flags.catalogue import Subscription
from services.flags.schemas import Actor, ChangeSet
from services.flags.service import FlagService
from services.platform.database import Database
from services.platform.grpc_client import open_channel
from tests.flags.conftest import FLAG_SERVICE, StartServer
from tests.flags.factories import ADMIN, boolean_flag, definition_of, put_request

Stub = flags_pb2_grpc.FlagServiceStub
# How long to wait for a change set that must come: generous, so a saturated machine cannot make it late. The
# contract's "a kill reaches every service in under a second" is measured by `make bench-flags`, not asserted here.
WAIT_SECONDS = 30.0
# A resync period far longer than WAIT_SECONDS: a change that arrives at all was pushed, not found by a resync.
NO_RESYNC_SECONDS = 3600.0


async def next_set(call: grpc.aio.UnaryStreamCall) -> pb.FlagSet:
    message = await asyncio.wait_for(call.read(), WAIT_SECONDS)
    assert isinstance(message, pb.FlagSet)
    return message


async def test_watch_starts_with_the_full_set_at_the_latest_revision(flags: Stub) -> None:
    await flags.PutFlag(put_request("b-flag"))
    await flags.PutFlag(put_request("a-flag"))
    await flags.DeleteFlag(pb.DeleteFlagRequest(key="b-flag", actor=ADMIN))

    call = flags.WatchFlags(pb.WatchFlagsRequest(watcher="test"))
    first = await next_set(call)
    call.cancel()

    audit = await flags.ListAudit(pb.ListAuditRequest(page_size=1))
    assert first.full
    assert first.revision == audit.entries[0].sequence
    assert [flag.key for flag in first.flags] == ["a-flag"]


async def test_a_change_reaches_an_open_stream_without_waiting_for_a_resync(start_flag_server: StartServer) -> None:
    server = await start_flag_server(flags_resync_seconds=NO_RESYNC_SECONDS)
    watched = open_channel(f"127.0.0.1:{server.port}", FLAG_SERVICE)
    # The change goes through another channel, as the gateway's would.
    channel = open_channel(f"127.0.0.1:{server.port}", FLAG_SERVICE)
    try:
        flags = flags_pb2_grpc.FlagServiceStub(watched)
        await flags.PutFlag(put_request("new-platform", boolean_flag(default="on")))
        call = flags.WatchFlags(pb.WatchFlagsRequest(watcher="test"))
        await next_set(call)
        killed = await flags_pb2_grpc.FlagServiceStub(channel).KillFlag(
            pb.KillFlagRequest(key="new-platform", actor=ADMIN)
        )
        change = await next_set(call)
        call.cancel()
    finally:
        await watched.close()
        await channel.close()

    assert not change.full
    assert list(change.flags) == [killed]
    assert change.revision > 0


async def test_a_change_made_on_another_replica_arrives_through_redis(start_flag_server: StartServer) -> None:
    # A resync period far beyond next_set's wait: only pub/sub can deliver the change in time.
    watched, other = await start_flag_server(flags_resync_seconds=NO_RESYNC_SECONDS), await start_flag_server()
    watched_channel = open_channel(f"127.0.0.1:{watched.port}", FLAG_SERVICE)
    other_channel = open_channel(f"127.0.0.1:{other.port}", FLAG_SERVICE)
    try:
        await asyncio.wait_for(watched.sync.subscribed.wait(), WAIT_SECONDS)
        call = flags_pb2_grpc.FlagServiceStub(watched_channel).WatchFlags(pb.WatchFlagsRequest(watcher="test"))
        assert (await next_set(call)).flags == []

        created = await flags_pb2_grpc.FlagServiceStub(other_channel).PutFlag(put_request("from-elsewhere"))
        change = await next_set(call)
        call.cancel()
    finally:
        await watched_channel.close()
        await other_channel.close()

    assert list(change.flags) == [created]


async def test_a_change_whose_message_was_lost_arrives_at_the_next_resync(
    start_flag_server: StartServer, flags_database: Database
) -> None:
    server = await start_flag_server(flags_resync_seconds=0.2)
    channel = open_channel(f"127.0.0.1:{server.port}", FLAG_SERVICE)
    try:
        call = flags_pb2_grpc.FlagServiceStub(channel).WatchFlags(pb.WatchFlagsRequest(watcher="test"))
        await next_set(call)
        # A writer that commits and never publishes (it died, or Redis was down).
        silent = FlagService(flags_database)
        await silent.put("quiet", json.dumps(boolean_flag()), "", 0, Actor("alice", "admin"), "")

        change = await next_set(call)
        call.cancel()
    finally:
        await channel.close()
    assert [flag.key for flag in change.flags] == ["quiet"]


async def test_an_import_arrives_as_one_change_set(flags: Stub) -> None:
    call = flags.WatchFlags(pb.WatchFlagsRequest(watcher="test"))
    await next_set(call)
    document = {"flags": {"one": boolean_flag(), "two": boolean_flag(default="on")}}

    await flags.ImportFlags(pb.ImportFlagsRequest(document_json=json.dumps(document), actor=ADMIN))
    change = await next_set(call)
    call.cancel()

    assert [flag.key for flag in change.flags] == ["one", "two"]
    assert [definition_of(flag)["defaultVariant"] for flag in change.flags] == ["off", "on"]


async def test_a_reconnecting_watcher_gets_a_fresh_full_set(flags: Stub) -> None:
    call = flags.WatchFlags(pb.WatchFlagsRequest(watcher="test"))
    await next_set(call)
    call.cancel()
    await flags.PutFlag(put_request("while-away"))
    await flags.PutFlag(put_request("while-away", boolean_flag(default="on"), expected_version=1))

    again = flags.WatchFlags(pb.WatchFlagsRequest(watcher="test"))
    first = await next_set(again)
    again.cancel()

    assert first.full
    assert [(flag.key, flag.version) for flag in first.flags] == [("while-away", 2)]


async def test_every_open_stream_gets_each_change(flags: Stub) -> None:
    calls = [flags.WatchFlags(pb.WatchFlagsRequest(watcher=f"service-{n}")) for n in range(20)]
    for call in calls:
        await next_set(call)

    created = await flags.PutFlag(put_request("broadcast"))
    changes = await asyncio.gather(*(next_set(call) for call in calls))
    for call in calls:
        call.cancel()

    assert all(list(change.flags) == [created] for change in changes)


async def test_a_watcher_that_falls_far_behind_is_sent_the_full_set_instead() -> None:
    subscription = Subscription(backlog=3)
    for revision in range(1, 6):
        subscription.push(ChangeSet(revision))

    assert await subscription.next() is None  # the stream then sends the full set
    subscription.push(ChangeSet(6))
    assert await subscription.next() == ChangeSet(6)


async def test_a_watcher_that_leaves_is_forgotten(flags: Stub, flag_server: RunningFlagService) -> None:
    calls = [flags.WatchFlags(pb.WatchFlagsRequest(watcher=f"service-{n}")) for n in range(5)]
    for call in calls:
        await next_set(call)
    assert flag_server.catalogue.watchers == 5

    for call in calls:
        call.cancel()
    # The server learns of each cancellation on its own, a moment later (longer on a busy machine).
    deadline = time.monotonic() + WAIT_SECONDS
    while flag_server.catalogue.watchers != 0:
        assert time.monotonic() < deadline, f"{flag_server.catalogue.watchers} watchers still counted"
        await asyncio.sleep(0.02)
