"""Flags: REST bodies ↔ ``luckygas.flags.v1`` messages."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Response
from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from luckygas.flags.v1 import flags_pb2 as pb

from services.gateway.mappers.common import timestamp_field
from services.gateway.schemas.flags import AuditEntryOut, AuditPage, EvaluationOut, FlagOut
from services.gateway.tokens import AccessClaims


def actor(claims: AccessClaims) -> pb.Actor:
    return pb.Actor(username=claims.username, role=claims.role)


def _json_or_none(text: str) -> dict[str, Any] | None:
    return json.loads(text) if text else None


def flag_out(flag: pb.Flag, response: Response | None = None) -> FlagOut:
    if response is not None:
        response.headers["ETag"] = f'"{flag.version}"'
    return FlagOut(
        key=flag.key,
        definition=json.loads(flag.definition_json) if flag.definition_json else {},
        description=flag.description,
        version=flag.version,
        updated_at=timestamp_field(flag, "updated_at"),
        updated_by=flag.updated_by,
        deleted=flag.deleted,
    )


def evaluation_out(result: pb.EvaluationResult) -> EvaluationOut:
    return EvaluationOut(
        flag_key=result.flag_key,
        value=json_format.MessageToDict(result.value) if result.HasField("value") else None,
        variant=result.variant,
        reason=result.reason,
        error_code=result.error_code,
        error_message=result.error_message,
        flag_version=result.flag_version,
    )


def struct(values: dict[str, Any]) -> Struct:
    context = Struct()
    context.update(values)
    return context


def audit_page_out(reply: pb.ListAuditResponse) -> AuditPage:
    return AuditPage(
        entries=[
            AuditEntryOut(
                sequence=entry.sequence,
                flag_key=entry.flag_key,
                flag_version=entry.flag_version,
                action=entry.action,
                actor=entry.actor,
                actor_role=entry.actor_role,
                reason=entry.reason,
                before=_json_or_none(entry.before_json),
                after=_json_or_none(entry.after_json),
                at=timestamp_field(entry, "at"),
            )
            for entry in reply.entries
        ],
        next_page_token=reply.next_page_token or None,
    )
