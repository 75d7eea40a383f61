"""The gRPC transport of the flag service: proto in, service or catalogue call, proto out. No SQL here."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from luckygas.flags.v1 import flags_pb2 as pb
from luckygas.flags.v1 import flags_pb2_grpc

from services.flags.catalogue import FlagCatalogue
from services.flags.evaluation import evaluate_all, evaluate_flag
from services.flags.schemas import (
    Actor,
    AuditRecord,
    ChangeSet,
    CohortChange,
    FlagRecord,
    PilotChange,
    PilotRecord,
    to_json,
)
from services.flags.service import FlagService
from services.platform.flags.engine import Evaluation, thaw
from services.platform.proto_values import timestamp

_log = logging.getLogger(__name__)


def flag_to_proto(record: FlagRecord) -> pb.Flag:
    return pb.Flag(
        key=record.key,
        definition_json=record.definition_json,
        description=record.description,
        version=record.version,
        updated_at=timestamp(record.updated_at),
        updated_by=record.updated_by,
        deleted=record.deleted,
    )


def flag_set_to_proto(changes: ChangeSet) -> pb.FlagSet:
    return pb.FlagSet(
        flags=[flag_to_proto(record) for record in changes.flags], revision=changes.revision, full=changes.full
    )


def audit_to_proto(entry: AuditRecord) -> pb.AuditEntry:
    return pb.AuditEntry(
        sequence=entry.sequence,
        flag_key=entry.flag_key,
        flag_version=entry.flag_version,
        action=entry.action,
        actor=entry.actor,
        actor_role=entry.actor_role,
        reason=entry.reason,
        before_json="" if entry.before is None else to_json(entry.before),
        after_json="" if entry.after is None else to_json(entry.after),
        at=timestamp(entry.at),
    )


def _value(value: Any) -> struct_pb2.Value:
    message = struct_pb2.Value()
    # Through JSON text: variants are JSON values (the engine hands out read-only copies; thaw makes them plain).
    json_format.Parse(json.dumps(thaw(value)), message)
    return message


def evaluation_to_proto(evaluation: Evaluation) -> pb.EvaluationResult:
    return pb.EvaluationResult(
        flag_key=evaluation.flag_key,
        value=None if evaluation.value is None else _value(evaluation.value),
        variant=evaluation.variant or "",
        reason=evaluation.reason.value,
        error_code=evaluation.error_code.value if evaluation.error_code else "",
        error_message=evaluation.error_message or "",
        flag_version=evaluation.flag_version,
    )


def _context(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def _actor(message: pb.Actor) -> Actor:
    return Actor(username=message.username, role=message.role)


COHORT_CHANGES = {
    pb.COHORT_CHANGE_UNSPECIFIED: CohortChange.KEEP,
    pb.COHORT_CHANGE_REPLACE: CohortChange.REPLACE,
    pb.COHORT_CHANGE_ADD: CohortChange.ADD,
}


def pilot_change_from_proto(request: pb.SetPilotRequest) -> PilotChange:
    return PilotChange(
        cohort=COHORT_CHANGES.get(request.cohort_change),
        customer_codes=tuple(request.customer_codes),
        percent=request.percent if request.HasField("percent") else None,
    )


def pilot_to_proto(pilot: PilotRecord) -> pb.Pilot:
    return pb.Pilot(customer_codes=pilot.customer_codes, percent=pilot.percent, flag=flag_to_proto(pilot.flag))


class FlagServicer(flags_pb2_grpc.FlagServiceServicer):
    def __init__(self, flags: FlagService, catalogue: FlagCatalogue) -> None:
        self.flags = flags
        self.catalogue = catalogue

    async def EvaluateFlag(
        self, request: pb.EvaluateFlagRequest, context: grpc.aio.ServicerContext
    ) -> pb.EvaluationResult:
        return evaluation_to_proto(evaluate_flag(self.catalogue, request.flag_key, _context(request.context)))

    async def EvaluateAll(
        self, request: pb.EvaluateAllRequest, context: grpc.aio.ServicerContext
    ) -> pb.EvaluateAllResponse:
        revision, evaluations = evaluate_all(self.catalogue, _context(request.context))
        return pb.EvaluateAllResponse(results=[evaluation_to_proto(each) for each in evaluations], revision=revision)

    async def GetFlag(self, request: pb.GetFlagRequest, context: grpc.aio.ServicerContext) -> pb.Flag:
        return flag_to_proto(await self.flags.get(request.key))

    async def ListFlags(self, request: pb.ListFlagsRequest, context: grpc.aio.ServicerContext) -> pb.FlagSet:
        return flag_set_to_proto(await self.flags.snapshot())

    async def WatchFlags(
        self, request: pb.WatchFlagsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.FlagSet]:
        """The full set, then each change; a watcher that falls far behind is sent the full set again."""
        snapshot, subscription = self.catalogue.subscribe()
        _log.info("flag watcher joined", extra={"watcher": request.watcher[:100], "peer": context.peer()})
        try:
            yield flag_set_to_proto(snapshot)
            while True:
                try:
                    changes = await subscription.next()
                except EOFError:
                    return
                yield flag_set_to_proto(changes if changes is not None else self.catalogue.snapshot())
        finally:
            self.catalogue.unsubscribe(subscription)
            _log.info("flag watcher left", extra={"watcher": request.watcher[:100]})

    async def PutFlag(self, request: pb.PutFlagRequest, context: grpc.aio.ServicerContext) -> pb.Flag:
        record = await self.flags.put(
            request.key,
            request.definition_json,
            request.description,
            request.expected_version,
            _actor(request.actor),
            request.reason,
        )
        return flag_to_proto(record)

    async def KillFlag(self, request: pb.KillFlagRequest, context: grpc.aio.ServicerContext) -> pb.Flag:
        return flag_to_proto(await self.flags.kill(request.key, _actor(request.actor), request.reason))

    async def RestoreFlag(self, request: pb.RestoreFlagRequest, context: grpc.aio.ServicerContext) -> pb.Flag:
        record = await self.flags.restore(request.key, request.version, _actor(request.actor), request.reason)
        return flag_to_proto(record)

    async def DeleteFlag(self, request: pb.DeleteFlagRequest, context: grpc.aio.ServicerContext) -> pb.Flag:
        record = await self.flags.delete(request.key, request.expected_version, _actor(request.actor), request.reason)
        return flag_to_proto(record)

    async def SetPilot(self, request: pb.SetPilotRequest, context: grpc.aio.ServicerContext) -> pb.Pilot:
        pilot = await self.flags.set_pilot(
            request.key,
            pilot_change_from_proto(request),
            request.expected_version,
            _actor(request.actor),
            request.reason,
        )
        return pilot_to_proto(pilot)

    async def ListAudit(self, request: pb.ListAuditRequest, context: grpc.aio.ServicerContext) -> pb.ListAuditResponse:
        page = await self.flags.list_audit(request.flag_key, request.page_size, request.page_token)
        return pb.ListAuditResponse(
            entries=[audit_to_proto(entry) for entry in page.entries], next_page_token=page.next_page_token
        )

    async def ImportFlags(
        self, request: pb.ImportFlagsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ImportFlagsResponse:
        changed = await self.flags.import_document(request.document_json, _actor(request.actor), request.reason)
        return pb.ImportFlagsResponse(flags=[flag_to_proto(record) for record in changed])

    async def ExportFlags(
        self, request: pb.ExportFlagsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExportFlagsResponse:
        return pb.ExportFlagsResponse(document_json=await self.flags.export_document())


def registrar(flags: FlagService, catalogue: FlagCatalogue) -> Callable[[grpc.aio.Server], None]:
    def register(server: grpc.aio.Server) -> None:
        flags_pb2_grpc.add_FlagServiceServicer_to_server(FlagServicer(flags, catalogue), server)

    return register


SERVICE_NAME = pb.DESCRIPTOR.services_by_name["FlagService"].full_name
