"""What every resource's mapping needs.

Every moment the API answers with is given in Taipei time with its offset (``2026-12-07T08:02:08+08:00``), the
zone of the windows, dates and shifts it sits next to; a moment a client sends may carry any offset. The protobuf
side of it is services/platform/proto_values.py, as in every service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from services.platform import proto_values
from services.platform.clock import TAIPEI


def taipei(moment: datetime) -> datetime:
    """``moment`` in Taipei time; the far end of what datetime holds (a clamped Timestamp) stays as it is."""
    try:
        return moment.astimezone(TAIPEI)
    except OverflowError:
        return moment


def timestamp(stamp: Timestamp) -> datetime:
    """A protobuf Timestamp as an aware Taipei datetime."""
    return taipei(proto_values.to_datetime(stamp))


def timestamp_field(message: Any, field: str) -> datetime | None:
    """A protobuf Timestamp field as an aware Taipei datetime; None when it is unset."""
    moment = proto_values.datetime_field(message, field)
    return None if moment is None else taipei(moment)
