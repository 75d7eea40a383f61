"""``/api/v1/flags``: feature flags through the flag service — read, change, kill, restore, audit, evaluate."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status
from luckygas.customer.v1 import customer_pb2
from luckygas.flags.v1 import flags_pb2 as pb

from services.gateway.context import GatewayContext, get_context
from services.gateway.mappers.flags import actor, audit_page_out, evaluation_out, flag_out, struct
from services.gateway.schemas.common import parse_version_tag
from services.gateway.schemas.flags import (
    AuditPage,
    CustomerFlags,
    EvaluateIn,
    EvaluationOut,
    FlagList,
    FlagOut,
    FlagPut,
    Reason,
    Restore,
)
from services.gateway.security import DISPATCHER, SRE, Allow
from services.gateway.tokens import AccessClaims

router = APIRouter(prefix="/api/v1/flags", tags=["flags"])
customer_router = APIRouter(prefix="/api/v1/customers", tags=["flags"])

Context = Annotated[GatewayContext, Depends(get_context)]
Readers = Annotated[AccessClaims, Depends(Allow(DISPATCHER, SRE))]
# The flag service refuses fault.* flags to every role but sre and admin; it is told who is asking.
Writers = Annotated[AccessClaims, Depends(Allow(SRE))]
OfficeStaff = Annotated[AccessClaims, Depends(Allow(DISPATCHER))]
IfMatch = Annotated[str | None, Header(description='the flag\'s version (its ETag), e.g. "3"; absent: create')]


async def _audit(context: GatewayContext, flag_key: str, page_size: int, page_token: str) -> AuditPage:
    reply = await context.flags.ListAudit(
        pb.ListAuditRequest(flag_key=flag_key, page_size=page_size, page_token=page_token)
    )
    return audit_page_out(reply)


PageSize = Annotated[int, Query(ge=1, le=500)]
PageToken = Annotated[str, Query(max_length=500)]


@router.get("", response_model=FlagList)
async def list_flags(context: Context, claims: Readers) -> FlagList:
    """Every feature flag with its flagd definition, version and who changed it last."""
    reply = await context.flags.ListFlags(pb.ListFlagsRequest())
    return FlagList(items=[flag_out(flag) for flag in reply.flags], revision=reply.revision)


# Declared before /{key} so "audit" is never read as a flag key.
@router.get("/audit", response_model=AuditPage)
async def list_all_audit(
    context: Context, claims: Readers, page_size: PageSize = 50, page_token: PageToken = ""
) -> AuditPage:
    """Every change to every flag: who, when, why, before and after."""
    return await _audit(context, "", page_size, page_token)


@router.get("/{key}", response_model=FlagOut)
async def get_flag(key: str, context: Context, claims: Readers, response: Response) -> FlagOut:
    """One flag, with its ETag (the version a change must name in If-Match)."""
    return flag_out(await context.flags.GetFlag(pb.GetFlagRequest(key=key)), response)


@router.put("/{key}", response_model=FlagOut)
async def put_flag(
    key: str, body: FlagPut, context: Context, claims: Writers, response: Response, if_match: IfMatch = None
) -> FlagOut:
    """Create a flag (no If-Match) or change it (If-Match: its current version; a stale one is 412)."""
    expected = parse_version_tag(if_match, "flag") if if_match is not None else 0
    flag = await context.flags.PutFlag(
        pb.PutFlagRequest(
            key=key,
            definition_json=json.dumps(body.definition, ensure_ascii=False),
            description=body.description,
            expected_version=expected,
            actor=actor(claims),
            reason=body.reason,
        )
    )
    if expected == 0:
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = f"{router.prefix}/{flag.key}"
    return flag_out(flag, response)


@router.post("/{key}/kill", response_model=FlagOut)
async def kill_flag(key: str, body: Reason, context: Context, claims: Writers, response: Response) -> FlagOut:
    """The kill switch: the flag is disabled and every caller gets its code default."""
    flag = await context.flags.KillFlag(pb.KillFlagRequest(key=key, actor=actor(claims), reason=body.reason))
    return flag_out(flag, response)


@router.post("/{key}/restore", response_model=FlagOut)
async def restore_flag(key: str, body: Restore, context: Context, claims: Writers, response: Response) -> FlagOut:
    """Make an earlier version's definition current again, as a new version."""
    flag = await context.flags.RestoreFlag(
        pb.RestoreFlagRequest(key=key, version=body.version, actor=actor(claims), reason=body.reason)
    )
    return flag_out(flag, response)


@router.get("/{key}/audit", response_model=AuditPage)
async def list_flag_audit(
    key: str, context: Context, claims: Readers, page_size: PageSize = 50, page_token: PageToken = ""
) -> AuditPage:
    """Who changed this flag, when, why, and what it was before and after, newest first."""
    return await _audit(context, key, page_size, page_token)


@router.post("/{key}/evaluate", response_model=EvaluationOut)
async def evaluate_flag(key: str, body: EvaluateIn, context: Context, claims: Readers) -> EvaluationOut:
    """What the flag gives for a context, e.g. {"targetingKey": "<customer code>"}."""
    result = await context.flags.EvaluateFlag(pb.EvaluateFlagRequest(flag_key=key, context=struct(body.context)))
    return evaluation_out(result)


@customer_router.get("/{customer_id}/flags", response_model=CustomerFlags)
async def customer_flags(customer_id: str, context: Context, claims: OfficeStaff) -> CustomerFlags:
    """Every flag as this customer gets it (code as targetingKey, with zone and segment), for support calls."""
    customer = await context.customers.GetCustomer(customer_pb2.GetCustomerRequest(id=customer_id))
    values = {
        "targetingKey": customer.fields.code,
        "zone": customer.fields.zone,
        "segment": customer.fields.segment,
    }
    reply = await context.flags.EvaluateAll(pb.EvaluateAllRequest(context=struct(values)))
    return CustomerFlags(
        customer_id=customer.id,
        customer_code=customer.fields.code,
        context=values,
        flags=[evaluation_out(result) for result in reply.results],
        revision=reply.revision,
    )
