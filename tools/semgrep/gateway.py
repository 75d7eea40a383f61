"""Cases for tools/semgrep/gateway.yml (`semgrep --test tools/semgrep`): `ruleid` lines must match, `ok` lines must
not."""

from fastapi import HTTPException, status
from starlette import exceptions

from services.gateway.errors import PreconditionRequired


def refuse(kind: int) -> None:
    if kind == 1:
        # ruleid: gateway-raises-through-problems
        raise HTTPException(status.HTTP_428_PRECONDITION_REQUIRED, "If-Match is required")
    if kind == 2:
        # ruleid: gateway-raises-through-problems
        raise exceptions.HTTPException(404)
    # ok: gateway-raises-through-problems
    raise PreconditionRequired("If-Match with the customer's version (its ETag) is required")
