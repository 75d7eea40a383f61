"""Who may call what: bearer-token authentication and the roles each route declares."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.context import GatewayContext
from services.gateway.errors import Unauthenticated
from services.gateway.tokens import AccessClaims, TokenError
from services.platform.errors import PermissionDenied

ADMIN, DISPATCHER, DRIVER, CUSTOMER, SRE = "admin", "dispatcher", "driver", "customer", "sre"
ALL_ROLES = frozenset({ADMIN, DISPATCHER, DRIVER, CUSTOMER, SRE})

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/v1/auth/login")


class Allow:
    """A route dependency naming the roles allowed to call it; admin may call everything."""

    def __init__(self, *roles: str) -> None:
        unknown = set(roles) - ALL_ROLES
        if unknown:
            raise ValueError(f"unknown roles {unknown}")
        self.roles = frozenset(roles) | {ADMIN}

    async def __call__(
        self, request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> AccessClaims:
        if credentials is None:
            raise Unauthenticated("an access token is required (Authorization: Bearer …)")
        context: GatewayContext = request.app.state.gateway
        try:
            claims = context.signer.read_access(credentials.credentials)
        except TokenError as error:
            if error.expired:
                raise Unauthenticated(
                    "the access token has expired: get a new one from POST /api/v1/auth/refresh with your refresh "
                    "token, or log in again"
                ) from error
            raise Unauthenticated(f"the access token is not valid: {error}") from error
        if await context.revocations.is_revoked(claims):
            raise Unauthenticated("the access token was revoked (logged out); log in again")
        if claims.role not in self.roles:
            raise PermissionDenied(f"role {claims.role} may not do this; it is for: {', '.join(sorted(self.roles))}")
        return claims


ANY_ROLE = Allow(*ALL_ROLES)
OFFICE = Allow(DISPATCHER)
