"""The bench-read baseline: the customer read as one FastAPI route over an asyncpg pool, in one process.

No auth, no gRPC hop, no ORM, no middleware: the floor our gateway → customer service path is compared against.
``python -m loadtests.baseline_app --port P`` reads LUCKYGAS_DATABASE_URL and LUCKYGAS_DATABASE_POOL_SIZE.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException, Request

# The columns the gateway's CustomerOut carries; search and idempotency bookkeeping stay out, as they do there.
QUERY = """
SELECT id, version, terminated, termination_reason, created_at, updated_at, terminated_at,
       code, short_name, invoice_title, tax_id, phones, address, postal_code, zone, latitude, longitude,
       segment, hourly_windows, slot_code, rest_days, vehicle_requirement, cylinders, spare_cylinders,
       manifolded_cylinders, consumption_kg_per_day, max_cycle_days, slip_days, pricing_method, payment_terms,
       subscription, alert_device, credit_limit, blocked, notes
FROM customer.customers
WHERE id = $1
"""


async def _decode_jsonb(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def create_app(dsn: str, pool_size: int) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size, init=_decode_jsonb)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(title="bench-read baseline", lifespan=lifespan)

    @app.get("/api/v1/customers/{customer_id}")
    async def get_customer(customer_id: uuid.UUID, request: Request) -> dict[str, Any]:
        row = await request.app.state.pool.fetchrow(QUERY, customer_id)
        if row is None:
            raise HTTPException(404, "no such customer")
        return dict(row)

    @app.get("/readyz")
    async def readyz(request: Request) -> dict[str, str]:
        await request.app.state.pool.fetchval("SELECT 1")
        return {"status": "ready"}

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m loadtests.baseline_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    # The services' URLs name SQLAlchemy's driver; asyncpg wants the plain postgresql:// form.
    dsn = os.environ["LUCKYGAS_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
    pool_size = int(os.environ.get("LUCKYGAS_DATABASE_POOL_SIZE", "10"))
    # Same server settings as the gateway's ``serve``: one worker, uvicorn's auto loop and HTTP parser
    # (uvloop and httptools when installed), no access log.
    uvicorn.run(create_app(dsn, pool_size), host=arguments.host, port=arguments.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
