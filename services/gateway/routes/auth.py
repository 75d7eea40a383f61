"""``/api/v1/auth``: login, refresh-token rotation, logout, password change, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from services.gateway import problems
from services.gateway.auth import TokenPair
from services.gateway.context import Auth, GatewayContext, get_context
from services.gateway.schemas.auth import LoginRequest, Me, PasswordChange, RefreshRequest, TokenResponse
from services.gateway.security import ANY_ROLE
from services.gateway.tokens import AccessClaims

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

Context = Annotated[GatewayContext, Depends(get_context)]


def _response(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in, role=pair.role
    )


@router.post("/login", response_model=TokenResponse, responses=problems.documented(401, 423, 429))
async def login(body: LoginRequest, request: Request, context: Context, auth: Auth) -> TokenResponse:
    """Exchange a username and password for an access token and a refresh token."""
    client = request.client.host if request.client else "unknown"
    await context.login_limiter.hit(client)
    return _response(await auth.login(body.username, body.password))


@router.post("/refresh", response_model=TokenResponse, responses=problems.documented(401))
async def refresh(body: RefreshRequest, auth: Auth) -> TokenResponse:
    """Trade a refresh token for a new pair. Each refresh token works once; a reused one revokes the login."""
    return _response(await auth.refresh(body.refresh_token))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, auth: Auth, claims: Annotated[AccessClaims, Depends(ANY_ROLE)]) -> None:
    """End this session: the login behind this refresh token, and the access token that calls (at once, on every
    gateway and open live-feed socket). Repeating it changes nothing."""
    await auth.logout(body.refresh_token, claims)


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT)
async def logout_everywhere(auth: Auth, claims: Annotated[AccessClaims, Depends(ANY_ROLE)]) -> None:
    """End every session of this user, on every device: all refresh tokens, and every access token issued so far."""
    await auth.logout_everywhere(claims.user_id)


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT, responses=problems.documented(423))
async def change_password(body: PasswordChange, auth: Auth, claims: Annotated[AccessClaims, Depends(ANY_ROLE)]) -> None:
    """Change this user's password. Every session of the user ends, this one too (log in again with the new
    password). Repeating a change that went through changes nothing."""
    await auth.change_password(claims.user_id, body.current_password, body.new_password)


@router.get("/me", response_model=Me)
async def me(claims: Annotated[AccessClaims, Depends(ANY_ROLE)]) -> Me:
    """Who the access token belongs to: user id, username, role and, for a customer, their customer code."""
    return Me(
        user_id=str(claims.user_id), username=claims.username, role=claims.role, customer_code=claims.customer_code
    )
