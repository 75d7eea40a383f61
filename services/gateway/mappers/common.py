"""What every resource's mapping needs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp


def timestamp_field(message: Any, field: str) -> datetime | None:
    """A protobuf Timestamp field as an aware UTC datetime; None when it is unset."""
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)


def timestamp(stamp: Timestamp) -> datetime:
    """A protobuf Timestamp as an aware UTC datetime."""
    return stamp.ToDatetime(tzinfo=UTC)


def stamp(moment: datetime | None) -> Timestamp | None:
    """A datetime as a protobuf Timestamp (a naive one is taken as UTC); None stays None."""
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC))
    return stamp
