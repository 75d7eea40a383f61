"""``/api/v1/pilot``: run a pilot on a flag — set its cohort, grow it, set the percentage for everyone else.

Each call is one SetPilot: the flag service rewrites the targeting from the flag as it stands, keeping the part
the call does not change, under its write lock (so concurrent changes are applied one after the other, never lost),
and audits the caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from luckygas.flags.v1 import flags_pb2 as pb

from services.gateway.context import GatewayContext, get_context
from services.gateway.mappers.flags import actor, flag_out
from services.gateway.schemas.pilot import Cohort, Percentage, PilotOut
from services.gateway.security import SRE, Allow
from services.gateway.tokens import AccessClaims

router = APIRouter(prefix="/api/v1/pilot", tags=["pilot"])

Context = Annotated[GatewayContext, Depends(get_context)]
Operators = Annotated[AccessClaims, Depends(Allow(SRE))]


async def _set_pilot(
    context: GatewayContext,
    claims: AccessClaims,
    key: str,
    response: Response,
    *,
    reason: str,
    cohort: pb.CohortChange.ValueType = pb.COHORT_CHANGE_UNSPECIFIED,
    customer_codes: Iterable[str] = (),
    percent: float | None = None,
) -> PilotOut:
    pilot = await context.flags.SetPilot(
        pb.SetPilotRequest(
            key=key,
            cohort_change=cohort,
            customer_codes=customer_codes,
            percent=percent,
            actor=actor(claims),
            reason=reason,
        )
    )
    return PilotOut(
        customer_codes=list(pilot.customer_codes), percent=pilot.percent, flag=flag_out(pilot.flag, response)
    )


@router.put("/{key}/cohort", response_model=PilotOut)
async def set_cohort(key: str, body: Cohort, context: Context, claims: Operators, response: Response) -> PilotOut:
    """The customers who always get the flag (1–50 codes); the percentage for everyone else is kept."""
    return await _set_pilot(
        context,
        claims,
        key,
        response,
        reason=body.reason,
        cohort=pb.COHORT_CHANGE_REPLACE,
        customer_codes=body.customer_codes,
    )


@router.post("/{key}/cohort/grow", response_model=PilotOut)
async def grow_cohort(key: str, body: Cohort, context: Context, claims: Operators, response: Response) -> PilotOut:
    """Add customers to the cohort."""
    return await _set_pilot(
        context,
        claims,
        key,
        response,
        reason=body.reason,
        cohort=pb.COHORT_CHANGE_ADD,
        customer_codes=body.customer_codes,
    )


@router.put("/{key}/percentage", response_model=PilotOut)
async def set_percentage(
    key: str, body: Percentage, context: Context, claims: Operators, response: Response
) -> PilotOut:
    """The share of customers outside the cohort who get the flag; the cohort is kept."""
    return await _set_pilot(context, claims, key, response, reason=body.reason, percent=body.percent)
