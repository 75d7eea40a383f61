"""``/api/v1/users``: an admin disables a user (every session ends at once) or enables them again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from services.gateway.context import GatewayContext, get_context
from services.gateway.routes.auth import auth_service
from services.gateway.schemas.auth import UserState
from services.gateway.security import Allow
from services.gateway.tokens import AccessClaims

router = APIRouter(prefix="/api/v1/users", tags=["users"])

Context = Annotated[GatewayContext, Depends(get_context)]
Username = Annotated[str, Path(min_length=1, max_length=64)]
ADMIN_ONLY = Allow()  # admin may call everything; no other role is named


async def _set_disabled(context: GatewayContext, username: str, disabled: bool) -> UserState:
    async with context.database.session() as session:
        user = await auth_service(context, session).set_disabled(username, disabled)
        state = UserState(username=user.username, role=user.role, disabled=user.disabled_at is not None)
        user_id = user.id
    if disabled:
        await context.revocations.revoke_user(user_id)
    return state


@router.post("/{username}/disable", response_model=UserState)
async def disable_user(
    username: Username, context: Context, claims: Annotated[AccessClaims, Depends(ADMIN_ONLY)]
) -> UserState:
    """The user can no longer log in or refresh, and every access token of theirs stops working now (open live
    feeds too). Repeating it changes nothing."""
    return await _set_disabled(context, username, disabled=True)


@router.post("/{username}/enable", response_model=UserState)
async def enable_user(
    username: Username, context: Context, claims: Annotated[AccessClaims, Depends(ADMIN_ONLY)]
) -> UserState:
    """The user may log in again (tokens revoked when disabled stay revoked)."""
    return await _set_disabled(context, username, disabled=False)
