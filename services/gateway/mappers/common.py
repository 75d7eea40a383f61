"""What every resource's mapping needs.

Every moment the API answers with is given in Taipei time with its offset (``2026-12-07T08:02:08+08:00``), the
zone of the windows, dates and shifts it sits next to; a moment a client sends may carry any offset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from services.platform.clock import TAIPEI


def timestamp_field(message: Any, field: str) -> datetime | None:
    """A protobuf Timestamp field as an aware Taipei datetime; None when it is unset."""
    if not message.HasField(field):
        return None
    return timestamp(getattr(message, field))


def timestamp(stamp: Timestamp) -> datetime:
    """A protobuf Timestamp as an aware Taipei datetime."""
    return stamp.ToDatetime(tzinfo=UTC).astimezone(TAIPEI)


def stamp(moment: datetime | None) -> Timestamp | None:
    """A datetime as a protobuf Timestamp (a naive one is taken as UTC); None stays None."""
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC))
    return stamp
