"""Values as they cross a gRPC boundary: Timestamps ↔ aware UTC datetimes, YYYY-MM-DD dates and UUID ids.

Every servicer (and the gateway's mappers) converts through here, so a Timestamp never becomes a naive datetime
(RFC 3339 needs the offset; tools/semgrep/time.yml refuses ToDatetime() without tzinfo) and a bad date or id is
INVALID_ARGUMENT naming its field, worded the same by every service.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from services.platform.errors import InvalidArgument

_LATEST = datetime.max.replace(tzinfo=UTC)
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def timestamp(moment: datetime) -> Timestamp:
    """``moment`` as a Timestamp; a naive datetime is taken as UTC (as protobuf itself does)."""
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC))
    return stamp


def optional_timestamp(moment: datetime | None) -> Timestamp | None:
    """A Timestamp, or None (the field stays unset) for None."""
    return None if moment is None else timestamp(moment)


def to_datetime(stamp: Timestamp) -> datetime:
    """An aware UTC datetime. A Timestamp beyond what datetime holds becomes its far end, so it fails any range
    check downstream instead of raising here."""
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        return _LATEST if stamp.seconds > 0 else _EARLIEST


def datetime_field(message: Any, field: str) -> datetime | None:
    """The Timestamp field ``field`` of ``message`` as an aware UTC datetime; None when it is unset."""
    return to_datetime(getattr(message, field)) if message.HasField(field) else None


def parse_date(text: str, field: str) -> date:
    """A date written YYYY-MM-DD (the proto's date strings); anything else is INVALID_ARGUMENT on ``field``."""
    if _ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError as error:
            raise InvalidArgument.for_field(field, "a date as YYYY-MM-DD") from error
    raise InvalidArgument.for_field(field, "a date as YYYY-MM-DD")


def parse_uuid(text: str, field: str, what: str) -> uuid.UUID:
    """An id; anything but a UUID is INVALID_ARGUMENT on ``field``, saying ``what`` it should be ("an order id")."""
    try:
        return uuid.UUID(text)
    except (ValueError, TypeError) as error:
        raise InvalidArgument.for_field(field, f"{text!r} is not {what} (a UUID)") from error
