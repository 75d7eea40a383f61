"""Cases for tools/semgrep/time.yml (`semgrep --test tools/semgrep`): `ruleid` lines must match, `ok` lines must
not."""

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp


def times(stamp: Timestamp) -> list[datetime]:
    return [
        # ruleid: naive-protobuf-datetime
        stamp.ToDatetime(),
        # ok: naive-protobuf-datetime
        stamp.ToDatetime(tzinfo=UTC),
    ]
