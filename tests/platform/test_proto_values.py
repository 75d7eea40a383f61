"""Timestamps, dates and ids as they cross a gRPC boundary (services/platform/proto_values.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from luckygas.order.v1 import order_pb2 as order_pb

from services.platform.errors import FieldViolation, InvalidArgument
from services.platform.proto_values import (
    datetime_field,
    optional_timestamp,
    parse_date,
    parse_uuid,
    timestamp,
    to_datetime,
)

TAIPEI = timezone(timedelta(hours=8))


def test_a_moment_comes_back_as_the_same_instant_in_utc() -> None:
    moment = datetime(2026, 12, 7, 9, 30, 15, 250000, tzinfo=TAIPEI)
    back = to_datetime(timestamp(moment))
    assert back == moment
    assert back.tzinfo is UTC
    assert back.hour == 1


def test_a_naive_datetime_is_taken_as_utc() -> None:
    assert to_datetime(timestamp(datetime(2026, 1, 1, 12, 0))) == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_none_leaves_the_field_unset_and_an_unset_field_reads_as_none() -> None:
    assert optional_timestamp(None) is None
    proof = order_pb.DeliveryProof(delivered_at=optional_timestamp(None))
    assert not proof.HasField("delivered_at")
    assert datetime_field(proof, "delivered_at") is None


def test_a_set_field_reads_as_an_aware_datetime() -> None:
    moment = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    proof = order_pb.DeliveryProof(delivered_at=optional_timestamp(moment))
    assert datetime_field(proof, "delivered_at") == moment


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(400_000_000_000, datetime.max.replace(tzinfo=UTC)), (-400_000_000_000, datetime.min.replace(tzinfo=UTC))],
)
def test_a_timestamp_beyond_what_datetime_holds_becomes_its_far_end(seconds: int, expected: datetime) -> None:
    assert to_datetime(Timestamp(seconds=seconds)) == expected


def test_a_date_is_read_from_yyyy_mm_dd() -> None:
    assert parse_date("2028-02-29", "date").isoformat() == "2028-02-29"


@pytest.mark.parametrize(
    "text", ["", "20260228", "2026-02-30", "2026-W09-1", "2026-2-28", "２０２６-02-28", "2026-02-28 "]
)
def test_anything_but_a_real_yyyy_mm_dd_date_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_date(text, "scheduled_date")
    assert raised.value.violations == [FieldViolation("scheduled_date", "a date as YYYY-MM-DD")]


def test_an_id_is_read_as_a_uuid() -> None:
    value = uuid.uuid4()
    assert parse_uuid(str(value).upper(), "id", "an order id") == value


def test_a_bad_id_is_refused_saying_what_it_should_be() -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_uuid("LG-20261207-0001", "order_id", "an order id")
    assert raised.value.violations == [FieldViolation("order_id", "'LG-20261207-0001' is not an order id (a UUID)")]
