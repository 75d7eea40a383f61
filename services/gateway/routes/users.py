"""``/api/v1/users``: an admin disables a user (every session ends at once) or enables them again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from services.gateway.context import Auth
from services.gateway.schemas.auth import UserState
from services.gateway.security import Allow
from services.gateway.tokens import AccessClaims

router = APIRouter(prefix="/api/v1/users", tags=["users"])

Username = Annotated[str, Path(min_length=1, max_length=64)]
ADMIN_ONLY = Allow()  # admin may call everything; no other role is named


async def _set_disabled(auth: Auth, username: str, disabled: bool) -> UserState:
    status = await auth.set_disabled(username, disabled)
    return UserState(username=status.username, role=status.role, disabled=status.disabled)


@router.post("/{username}/disable", response_model=UserState)
async def disable_user(
    username: Username, auth: Auth, claims: Annotated[AccessClaims, Depends(ADMIN_ONLY)]
) -> UserState:
    """The user can no longer log in or refresh, and every access token of theirs stops working now (open live
    feeds too). Repeating it changes nothing."""
    return await _set_disabled(auth, username, disabled=True)


@router.post("/{username}/enable", response_model=UserState)
async def enable_user(
    username: Username, auth: Auth, claims: Annotated[AccessClaims, Depends(ADMIN_ONLY)]
) -> UserState:
    """The user may log in again (tokens revoked when disabled stay revoked)."""
    return await _set_disabled(auth, username, disabled=False)
