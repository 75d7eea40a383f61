"""The customer service as a real process: health, metrics, and graceful shutdown on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.local.stores import free_port, wait_for_port


def test_sigterm_reports_not_serving_then_exits_cleanly(embedded_stores: object, tmp_path: Path) -> None:
    grpc_port, metrics_port = free_port(), free_port()
    environment = {
        **os.environ,
        "LUCKYGAS_CUSTOMER_GRPC_PORT": str(grpc_port),
        "LUCKYGAS_CUSTOMER_METRICS_PORT": str(metrics_port),
        "LUCKYGAS_SHUTDOWN_GRACE_SECONDS": "2",
    }
    log = tmp_path / "customer.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.customer", "serve"], env=environment, stdout=output, stderr=output
        )
    try:
        wait_for_port(grpc_port, 20, process)  # type: ignore[arg-type]
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert (
                health.Check(health_pb2.HealthCheckRequest(), timeout=2).status
                == health_pb2.HealthCheckResponse.SERVING
            )
            watch = health.Watch(health_pb2.HealthCheckRequest(), timeout=10)
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING

            metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).read().decode()
            assert "luckygas_grpc_server_handled_total" in metrics

            process.send_signal(signal.SIGTERM)
            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING

        started = time.monotonic()
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
    finally:
        if process.poll() is None:
            process.kill()
    assert '"message": "shutting down"' in log.read_text()
