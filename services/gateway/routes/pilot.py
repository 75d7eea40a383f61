"""``/api/v1/pilot``: run a pilot on a flag — set its cohort, grow it, set the percentage for everyone else.

Each call reads the flag, rewrites its targeting keeping the part it does not change, and writes it back with
the version it read, so a concurrent change is a 412 rather than lost; the flag service audits the caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Depends, Response
from luckygas.flags.v1 import flags_pb2 as pb

from services.gateway.context import GatewayContext, get_context
from services.gateway.mappers.flags import actor, flag_out
from services.gateway.schemas.pilot import Cohort, Percentage, PilotOut
from services.gateway.security import SRE, Allow
from services.gateway.tokens import AccessClaims
from services.platform.errors import FailedPrecondition, InvalidArgument
from services.platform.flags.documents import PilotState, pilot_flag, read_pilot

router = APIRouter(prefix="/api/v1/pilot", tags=["pilot"])

Context = Annotated[GatewayContext, Depends(get_context)]
Operators = Annotated[AccessClaims, Depends(Allow(SRE))]
MAX_COHORT = 50


async def _read(context: GatewayContext, key: str) -> tuple[dict[str, Any], PilotState, int, str]:
    """The flag's definition, its pilot state, its version (0: no flag yet) and its description."""
    try:
        flag = await context.flags.GetFlag(pb.GetFlagRequest(key=key))
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return {}, PilotState((), 0), 0, ""
    definition = json.loads(flag.definition_json) if flag.definition_json else {}
    state = read_pilot(definition)
    if state is None:
        raise FailedPrecondition(f"flag {key} has targeting that is not a pilot's (a cohort and a percentage)")
    return definition, state, flag.version, flag.description


async def _write(
    context: GatewayContext,
    claims: AccessClaims,
    key: str,
    change: Callable[[PilotState], tuple[Iterable[str], float]],
    reason: str,
    response: Response,
) -> PilotOut:
    definition, state, version, description = await _read(context, key)
    wanted, percent = change(state)
    codes = sorted(set(wanted))
    if len(codes) > MAX_COHORT:
        raise InvalidArgument.for_field("customer_codes", f"a cohort has at most {MAX_COHORT} customers")
    rewritten = pilot_flag(
        codes,
        percent,
        enabled=definition.get("state", "ENABLED") == "ENABLED",
        metadata=definition.get("metadata"),
    )
    flag = await context.flags.PutFlag(
        pb.PutFlagRequest(
            key=key,
            definition_json=json.dumps(rewritten, ensure_ascii=False),
            description=description,
            expected_version=version,
            actor=actor(claims),
            reason=reason,
        )
    )
    return PilotOut(customer_codes=codes, percent=percent, flag=flag_out(flag, response))


@router.put("/{key}/cohort", response_model=PilotOut)
async def set_cohort(key: str, body: Cohort, context: Context, claims: Operators, response: Response) -> PilotOut:
    """The customers who always get the flag (1–50 codes); the percentage for everyone else is kept."""
    return await _write(context, claims, key, lambda state: (body.customer_codes, state.percent), body.reason, response)


@router.post("/{key}/cohort/grow", response_model=PilotOut)
async def grow_cohort(key: str, body: Cohort, context: Context, claims: Operators, response: Response) -> PilotOut:
    """Add customers to the cohort."""
    return await _write(
        context,
        claims,
        key,
        lambda state: ({*state.customer_codes, *body.customer_codes}, state.percent),
        body.reason,
        response,
    )


@router.put("/{key}/percentage", response_model=PilotOut)
async def set_percentage(
    key: str, body: Percentage, context: Context, claims: Operators, response: Response
) -> PilotOut:
    """The share of customers outside the cohort who get the flag; the cohort is kept."""
    return await _write(context, claims, key, lambda state: (state.customer_codes, body.percent), body.reason, response)
