"""A tiny flag service for the watcher tests: ``WatchFlags`` only, changes pushed by the test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from luckygas.flags.v1 import flags_pb2, flags_pb2_grpc

from services.platform.grpc_server import GrpcServer, create_server


def flag_message(key: str, definition: dict[str, Any] | None, version: int) -> flags_pb2.Flag:
    return flags_pb2.Flag(
        key=key,
        definition_json=json.dumps(definition) if definition else "",
        version=version,
        deleted=definition is None,
    )


def boolean_definition(default: str = "off", state: str = "ENABLED") -> dict[str, Any]:
    return {"state": state, "variants": {"on": True, "off": False}, "defaultVariant": default}


class WatchOnlyFlagService(flags_pb2_grpc.FlagServiceServicer):
    """Sends the whole set to each new watcher, then every change the test pushes."""

    def __init__(self) -> None:
        self.flags: dict[str, flags_pb2.Flag] = {}
        self.revision = 0
        self.watchers: list[asyncio.Queue[flags_pb2.FlagSet]] = []
        self.watcher_names: list[str] = []

    def change(self, key: str, definition: dict[str, Any] | None) -> flags_pb2.FlagSet:
        self.revision += 1
        version = self.flags[key].version + 1 if key in self.flags else 1
        self.flags[key] = flag_message(key, definition, version)
        changes = flags_pb2.FlagSet(flags=[self.flags[key]], revision=self.revision, full=False)
        for queue in self.watchers:
            queue.put_nowait(changes)
        return changes

    async def WatchFlags(
        self, request: flags_pb2.WatchFlagsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[flags_pb2.FlagSet]:
        queue: asyncio.Queue[flags_pb2.FlagSet] = asyncio.Queue()
        self.watchers.append(queue)
        self.watcher_names.append(request.watcher)
        try:
            yield flags_pb2.FlagSet(flags=list(self.flags.values()), revision=self.revision, full=True)
            while True:
                yield await queue.get()
        finally:
            self.watchers.remove(queue)


async def start_flag_service(service: WatchOnlyFlagService, port: int = 0) -> GrpcServer:
    return await create_server(
        lambda server: flags_pb2_grpc.add_FlagServiceServicer_to_server(service, server),
        ["luckygas.flags.v1.FlagService"],
        port=port,
        interceptors=[],
    )


@pytest.fixture
async def flag_service() -> AsyncIterator[tuple[WatchOnlyFlagService, GrpcServer]]:
    service = WatchOnlyFlagService()
    running = await start_flag_service(service)
    yield service, running
    await running.stop(grace=0)
