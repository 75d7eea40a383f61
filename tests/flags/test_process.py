"""The flag service as a real process: serves, exports its metrics, and stops on SIGTERM with watchers open."""

from __future__ import annotations

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
from luckygas.flags.v1 import flags_pb2 as pb
from luckygas.flags.v1 import flags_pb2_grpc

from services.local.stores import free_port, wait_for_port
from tests.flags.factories import put_request

SHUTDOWN_GRACE_SECONDS = 1
# How long to wait for what must happen (the process listening, a call answering): generous, because a Python
# process starting or answering on a saturated machine takes seconds.
WAIT_SECONDS = 60


def test_serve_then_sigterm_ends_open_watch_streams_and_exits(flags_schema: None, tmp_path: Path) -> None:
    grpc_port, metrics_port = free_port(), free_port()
    environment = {
        **os.environ,
        "LUCKYGAS_FLAGS_GRPC_PORT": str(grpc_port),
        "LUCKYGAS_FLAGS_METRICS_PORT": str(metrics_port),
        "LUCKYGAS_SHUTDOWN_GRACE_SECONDS": str(SHUTDOWN_GRACE_SECONDS),
    }
    log = tmp_path / "flags.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.flags", "serve"], env=environment, stdout=output, stderr=output
        )
    try:
        wait_for_port(grpc_port, WAIT_SECONDS, process)
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert (
                health.Check(health_pb2.HealthCheckRequest(), timeout=WAIT_SECONDS).status
                == health_pb2.HealthCheckResponse.SERVING
            )
            flags = flags_pb2_grpc.FlagServiceStub(channel)
            # Its own deadline must not end it first: it is open until the process has exited, below.
            watch = flags.WatchFlags(pb.WatchFlagsRequest(watcher="test"), timeout=4 * WAIT_SECONDS)
            assert next(watch).full
            flags.PutFlag(put_request("from-a-process"), timeout=WAIT_SECONDS)
            assert [flag.key for flag in next(watch).flags] == ["from-a-process"]

            metrics = (
                urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=WAIT_SECONDS).read().decode()
            )
            assert "luckygas_flags_watchers 1.0" in metrics
            assert 'luckygas_flags_changes_total{action="create"} 1.0' in metrics

            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=WAIT_SECONDS) == 0
            # Within the grace, plus a margin far above what a busy machine adds: open streams do not hold it up.
            assert time.monotonic() - started < SHUTDOWN_GRACE_SECONDS + 10
            # The stream ends (the watcher reconnects elsewhere); it does not hang.
            with pytest.raises(grpc.RpcError) as ended:
                next(watch)
            assert ended.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    finally:
        if process.poll() is None:
            process.kill()
    assert '"message": "shutting down"' in log.read_text()
