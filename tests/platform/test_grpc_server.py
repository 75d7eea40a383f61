"""The customer service as a real process: health, metrics, and graceful shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.local.stores import free_port, wait_for_port
from services.platform.grpc_server import create_server

SHUTDOWN_GRACE_SECONDS = 2
# How long to wait for what must happen (the process listening, a call answering): generous, because a Python
# process starting or answering on a saturated machine takes seconds.
WAIT_SECONDS = 60


def test_sigterm_reports_not_serving_then_exits_cleanly(embedded_stores: object, tmp_path: Path) -> None:
    grpc_port, metrics_port = free_port(), free_port()
    environment = {
        **os.environ,
        "LUCKYGAS_CUSTOMER_GRPC_PORT": str(grpc_port),
        "LUCKYGAS_CUSTOMER_METRICS_PORT": str(metrics_port),
        "LUCKYGAS_SHUTDOWN_GRACE_SECONDS": str(SHUTDOWN_GRACE_SECONDS),
    }
    log = tmp_path / "customer.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.customer", "serve"], env=environment, stdout=output, stderr=output
        )
    try:
        wait_for_port(grpc_port, WAIT_SECONDS, process)  # type: ignore[arg-type]
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert (
                health.Check(health_pb2.HealthCheckRequest(), timeout=WAIT_SECONDS).status
                == health_pb2.HealthCheckResponse.SERVING
            )
            # Open until NOT_SERVING is read after the SIGTERM below.
            watch = health.Watch(health_pb2.HealthCheckRequest(), timeout=2 * WAIT_SECONDS)
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING

            metrics = (
                urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=WAIT_SECONDS).read().decode()
            )
            assert "luckygas_grpc_server_handled_total" in metrics

            process.send_signal(signal.SIGTERM)
            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING

        started = time.monotonic()
        assert process.wait(timeout=WAIT_SECONDS) == 0
        # Within the grace, plus a margin far above what a busy machine adds: nothing holds the process up.
        assert time.monotonic() - started < SHUTDOWN_GRACE_SECONDS + 10
    finally:
        if process.poll() is None:
            process.kill()
    assert '"message": "shutting down"' in log.read_text()


async def test_a_connection_is_closed_at_its_max_age_and_calls_go_on_over_a_new_one() -> None:
    # A short age shows what the 300 s default does in a cluster: clients reconnect (and resolve the name again).
    running = await create_server(lambda server: None, [], max_connection_age=0.5, max_connection_age_grace=0.5)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            # A stream that never ends on its own: the server cuts it once the connection's age and grace are over.
            watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
            first = await asyncio.wait_for(watch.read(), WAIT_SECONDS)
            assert first.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError):
                await asyncio.wait_for(watch.read(), WAIT_SECONDS)
            answer = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=WAIT_SECONDS)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await running.server.stop(0)
