"""An outbox relay in its own process, for the crash test.

``python -m tests.platform.relay_process DATABASE_URL REDIS_URL SCHEMA BATCH_SIZE HANG_AFTER``

Prints ``ready`` once running and ``sent <n> <events>`` after each batch reaches Redis. After the
``HANG_AFTER``-th batch it stops before the commit that marks the batch sent, so the test can
SIGKILL it exactly between publish and commit.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from redis.asyncio import Redis

from services.platform.database import Database, create_engine, schema_metadata
from services.platform.outbox import EventEnvelope, OutboxRelay, outbox_table


class HangingRelay(OutboxRelay):
    def __init__(self, *args: object, hang_after: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.hang_after = hang_after
        self.batches_sent = 0

    async def _send(self, envelopes: Sequence[EventEnvelope]) -> None:
        await super()._send(envelopes)
        self.batches_sent += 1
        print(f"sent {self.batches_sent} {len(envelopes)}", flush=True)
        if self.batches_sent >= self.hang_after:
            await asyncio.Event().wait()  # published, not yet marked sent: wait here for SIGKILL


async def main(database_url: str, redis_url: str, schema: str, batch_size: int, hang_after: int) -> None:
    database = Database(create_engine(database_url, pool_size=2, application_name="relay-process"))
    redis = Redis.from_url(redis_url)
    relay = HangingRelay(
        database, outbox_table(schema_metadata(schema)), redis, batch_size=batch_size, hang_after=hang_after
    )
    print("ready", flush=True)
    await relay.run()


if __name__ == "__main__":
    database_url, redis_url, schema, batch_size, hang_after = sys.argv[1:6]
    asyncio.run(main(database_url, redis_url, schema, int(batch_size), int(hang_after)))
