"""Position batches through the real server, Postgres and Redis: stored once, late and out of order, refused whole
when any fix is bad; the latest position live in Redis and on ``positions.live``; tracks for a day."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from luckygas.tracking.v1 import tracking_pb2 as pb
from luckygas.tracking.v1 import tracking_pb2_grpc

from services.platform.database import Database
from services.tracking.live import CHANNEL, GEO_KEY, LATEST_KEY
from tests.order.factories import violations
from tests.tracking.factories import (
    DEPOT,
    at_taipei,
    batch,
    count,
    driver,
    east_of,
    fix,
    north_of,
    now,
    taipei_today,
)

Stub = tracking_pb2_grpc.TrackingServiceStub


@pytest.fixture
async def drivers(tracking: Stub) -> Stub:
    for username in ("driver01", "driver02", "driver03", "driver04"):
        await tracking.PutDriver(pb.PutDriverRequest(driver=driver(username)))
    return tracking


async def latest_in_redis(redis: aioredis.Redis, username: str) -> dict[str, Any]:
    held = await redis.hget(LATEST_KEY, username)
    assert held is not None
    return dict(json.loads(held))


async def test_a_batch_sent_twice_is_stored_once_and_gets_the_first_answer_again(
    drivers: Stub, database: Database
) -> None:
    start = now() - timedelta(minutes=5)
    fixes = [fix(north_of(DEPOT, 100 * i), start + timedelta(seconds=15 * i)) for i in range(4)]

    first = await drivers.RecordPositions(batch("driver01", fixes, "phone-1-batch-7"))
    again = await drivers.RecordPositions(batch("driver01", fixes, "phone-1-batch-7"))

    assert (first.stored, first.duplicates, first.replayed) == (4, 0, False)
    assert (again.stored, again.duplicates, again.replayed) == (4, 0, True)
    assert again.latest == first.latest
    assert first.latest.device_time == fixes[-1].device_time
    assert await count(database, "positions") == 4
    assert await count(database, "position_batches") == 1


async def test_overlapping_batches_store_each_fix_once_and_count_the_rest_as_duplicates(
    drivers: Stub, database: Database
) -> None:
    start = now() - timedelta(minutes=10)
    fixes = [fix(east_of(DEPOT, 50 * i), start + timedelta(seconds=15 * i)) for i in range(10)]

    first = await drivers.RecordPositions(batch("driver01", fixes[:6]))
    second = await drivers.RecordPositions(batch("driver01", fixes[4:]))

    assert (first.stored, first.duplicates) == (6, 0)
    assert (second.stored, second.duplicates, second.replayed) == (4, 2, False)
    assert await count(database, "positions") == 10


async def test_late_batches_never_move_the_driver_backwards_and_the_track_is_in_device_time_order(
    drivers: Stub, redis_client: aioredis.Redis
) -> None:
    day = taipei_today() - timedelta(days=1)
    noon = at_taipei(day, 12)
    newer = [fix(north_of(DEPOT, 1000 + 100 * i), noon + timedelta(minutes=10, seconds=15 * i)) for i in range(4)]
    older = [fix(north_of(DEPOT, 100 * i), noon + timedelta(seconds=15 * i)) for i in range(4)]

    await drivers.RecordPositions(batch("driver02", newer))
    late = await drivers.RecordPositions(batch("driver02", older))

    assert late.latest.device_time == newer[-1].device_time
    held = await latest_in_redis(redis_client, "driver02")
    assert held["device_time"] == newer[-1].device_time.ToDatetime().isoformat() + "+00:00"
    assert held["latitude"] == pytest.approx(newer[-1].latitude)
    track = await drivers.GetTrack(pb.GetTrackRequest(driver="driver02", date=day.isoformat()))
    assert [p.device_time for p in track.positions] == [f.device_time for f in older + newer]
    # 300 m up in the older batch, 700 m on to the newer one, 300 m more: 1,300 m along the track.
    assert track.distance_m == pytest.approx(1300, abs=1)
    assert track.date == day.isoformat()


async def test_two_hours_of_offline_fixes_every_15_seconds_sync_in_one_request(
    drivers: Stub, database: Database
) -> None:
    day = taipei_today() - timedelta(days=1)
    start = at_taipei(day, 8)
    backlog = [fix(north_of(DEPOT, 10 * i), start + timedelta(seconds=15 * i)) for i in range(480)]
    await drivers.ClockOut(pb.ClockRequest(driver="driver03"))  # syncing after clock-out loses nothing

    answer = await drivers.RecordPositions(batch("driver03", backlog))

    assert (answer.stored, answer.duplicates) == (480, 0)
    assert answer.latest.device_time == backlog[-1].device_time
    track = await drivers.GetTrack(pb.GetTrackRequest(driver="driver03", date=day.isoformat()))
    assert len(track.positions) == 480
    assert track.distance_m == pytest.approx(4790, abs=1)
    assert await count(database, "positions", "driver = 'driver03'") == 480


async def test_bad_fixes_refuse_the_whole_batch_naming_each_field_and_nothing_is_stored(
    drivers: Stub, database: Database
) -> None:
    moment = now() - timedelta(minutes=1)
    fixes = [
        fix(DEPOT, moment - timedelta(seconds=30)),
        fix((91.0, 121.15), moment - timedelta(seconds=15)),
        fix((22.75, -181.0), moment, battery=1.5),
        fix(DEPOT, now() + timedelta(hours=1), accuracy_m=-1, heading_deg=400, speed_mps=-2),
        fix(DEPOT, now() - timedelta(days=8)),
        pb.Fix(latitude=22.75, longitude=121.15),
    ]

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await drivers.RecordPositions(batch("driver01", fixes))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(raised.value)) == {
        "fixes[1].latitude",
        "fixes[2].longitude",
        "fixes[2].battery",
        "fixes[3].device_time",
        "fixes[3].accuracy_m",
        "fixes[3].heading_deg",
        "fixes[3].speed_mps",
        "fixes[4].device_time",
        "fixes[5].device_time",
    }
    assert await count(database, "positions") == 0
    assert await count(database, "position_batches") == 0


async def test_an_unknown_driver_an_empty_batch_id_and_a_batch_over_2000_fixes_are_refused(
    drivers: Stub, database: Database
) -> None:
    moment = now() - timedelta(hours=1)
    too_many = [fix(DEPOT, moment + timedelta(seconds=i)) for i in range(2001)]

    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await drivers.RecordPositions(batch("nobody", [fix(DEPOT, moment)]))
    with pytest.raises(grpc.aio.AioRpcError) as oversized:
        await drivers.RecordPositions(pb.RecordPositionsRequest(driver="driver01", batch_id="", fixes=too_many))

    assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(unknown.value)) == {"driver"}
    assert oversized.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(oversized.value)) == {"batch_id", "fixes"}
    assert await count(database, "positions") == 0


async def test_a_batch_of_2000_bad_fixes_lists_the_first_violations_and_counts_the_rest(drivers: Stub) -> None:
    moment = now() - timedelta(hours=1)
    bad = [fix((95.0, 121.15), moment + timedelta(seconds=i)) for i in range(2000)]

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await drivers.RecordPositions(batch("driver01", bad))

    found = violations(raised.value)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "fixes[0].latitude" in found
    assert found["fixes"] == "1981 more invalid fields not listed"


async def test_the_new_latest_position_is_published_on_positions_live_only_when_it_moves_forward(
    drivers: Stub, redis_client: aioredis.Redis
) -> None:
    moment = now() - timedelta(seconds=30)
    newest = fix(north_of(DEPOT, 200), moment, accuracy_m=5.0, speed_mps=-1, heading_deg=-1, battery=0.42)
    async with redis_client.pubsub() as pubsub:
        await pubsub.subscribe(CHANNEL)
        # The subscription confirmation, waited for generously: it returns as soon as it comes, and a later read
        # would otherwise take it (and give None, subscribe messages being ignored) instead of the position.
        await pubsub.get_message(timeout=30)

        await drivers.RecordPositions(batch("driver01", [fix(DEPOT, moment - timedelta(seconds=15)), newest]))
        await drivers.RecordPositions(batch("driver01", [fix(DEPOT, moment - timedelta(minutes=5))]))  # older: silent
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30)
        # Silence, checked after the message that must come has come: a short wait is enough.
        silence = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.3)

    assert message is not None
    published = json.loads(message["data"])
    assert set(published) == {
        "driver",
        "latitude",
        "longitude",
        "accuracy_m",
        "speed_mps",
        "heading_deg",
        "battery",
        "device_time",
        "received_at",
        "next_stop",
    }
    assert published["driver"] == "driver01"
    assert published["latitude"] == pytest.approx(newest.latitude)
    assert (published["accuracy_m"], published["speed_mps"], published["heading_deg"]) == (5.0, -1.0, -1.0)
    assert published["battery"] == 0.42
    assert published["device_time"] == newest.device_time.ToDatetime().isoformat() + "+00:00"
    assert published["next_stop"] is None  # no route today
    assert silence is None


async def test_live_positions_leave_out_drivers_not_seen_within_the_maximum_age(drivers: Stub) -> None:
    await drivers.RecordPositions(batch("driver01", [fix(DEPOT, now() - timedelta(minutes=1))]))
    await drivers.RecordPositions(batch("driver02", [fix(north_of(DEPOT, 500), now() - timedelta(minutes=20))]))

    default = await drivers.ListLivePositions(pb.ListLivePositionsRequest())
    hour = await drivers.ListLivePositions(pb.ListLivePositionsRequest(max_age_seconds=3600))

    assert [p.driver for p in default.positions] == ["driver01"]
    assert [p.driver for p in hour.positions] == ["driver01", "driver02"]
    assert hour.positions[1].latitude == pytest.approx(north_of(DEPOT, 500)[0])


async def test_nearest_drivers_come_nearest_first_within_the_radius_and_only_with_a_recent_position(
    drivers: Stub, redis_client: aioredis.Redis
) -> None:
    recent = now() - timedelta(minutes=1)
    await drivers.RecordPositions(batch("driver01", [fix(north_of(DEPOT, 3000), recent)]))
    await drivers.RecordPositions(batch("driver02", [fix(east_of(DEPOT, 1000), recent)]))
    await drivers.RecordPositions(batch("driver03", [fix(north_of(DEPOT, 9000), recent)]))
    await drivers.RecordPositions(batch("driver04", [fix(north_of(DEPOT, 200), now() - timedelta(hours=2))]))

    found = await drivers.FindNearestDrivers(
        pb.FindNearestDriversRequest(latitude=DEPOT[0], longitude=DEPOT[1], radius_m=5000)
    )
    nearest = await drivers.FindNearestDrivers(
        pb.FindNearestDriversRequest(latitude=DEPOT[0], longitude=DEPOT[1], radius_m=50_000, limit=1)
    )

    assert [p.driver for p in found.positions] == ["driver02", "driver01"]
    # Redis measures on its own sphere from 52-bit geohashes: within a few metres of ours.
    assert [p.distance_m for p in found.positions] == [pytest.approx(1000, abs=5), pytest.approx(3000, abs=5)]
    assert [p.driver for p in nearest.positions] == ["driver02"]
    assert await redis_client.geopos(GEO_KEY, "driver04") != [None]  # stale, not gone: it is skipped


async def test_a_nearest_driver_query_outside_its_bounds_is_refused(drivers: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await drivers.FindNearestDrivers(
            pb.FindNearestDriversRequest(latitude=22.7, longitude=121.1, radius_m=0, limit=51)
        )

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(raised.value)) == {"radius_m", "limit"}


async def test_concurrent_copies_of_one_batch_store_it_once(drivers: Stub, database: Database) -> None:
    moment = now() - timedelta(minutes=3)
    fixes = [fix(north_of(DEPOT, 20 * i), moment + timedelta(seconds=15 * i)) for i in range(20)]

    answers = await asyncio.gather(*(drivers.RecordPositions(batch("driver04", fixes, "same")) for _ in range(5)))

    assert sorted(answer.replayed for answer in answers) == [False, True, True, True, True]
    assert {(answer.stored, answer.duplicates) for answer in answers} == {(20, 0)}
    assert await count(database, "positions") == 20


async def test_a_track_of_an_unknown_driver_is_not_found_and_of_a_quiet_day_is_empty(drivers: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await drivers.GetTrack(pb.GetTrackRequest(driver="nobody", date=taipei_today().isoformat()))
    quiet = await drivers.GetTrack(pb.GetTrackRequest(driver="driver01", date="2026-01-01"))

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert (len(quiet.positions), quiet.distance_m) == (0, 0.0)
