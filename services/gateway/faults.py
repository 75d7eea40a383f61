"""Fault injection in the gateway: the ``fault.gateway`` flag slows or fails REST calls, as ``fault.<service>``
does for gRPC services (services/platform/flags/faults.py explains the flag).

A fault's ``methods`` name gateway calls by route, e.g. ``"GET /api/v1/customers/{customer_id}"`` or just the
path template ``"/api/v1/customers/{customer_id}"`` for every verb. Errors come back as the problem+json the
matching gRPC status would give, so a client sees what a real failure behind the gateway looks like.

Installed as a dependency of the API routers, so it runs after routing (the route template is known) and
never touches health probes, /metrics or the live WebSocket.
"""

from __future__ import annotations

import grpc
from fastapi import Request

from services.platform.flags.faults import NO_FAULT, FaultPolicy


class InjectedFault(Exception):
    """Raised to answer a call with the fault's error; problems.py renders it."""

    def __init__(self, status: grpc.StatusCode, flag_key: str) -> None:
        super().__init__(f"fault injected by flag {flag_key}")
        self.status = status


async def inject_fault(request: Request) -> None:
    policy: FaultPolicy = request.app.state.gateway.faults
    if not policy.enabled():
        return
    template = getattr(request.scope.get("route"), "path", request.url.path)
    method = f"{request.method} {template}"
    fault = policy.fault_for(method, template)
    if fault is NO_FAULT:
        return
    await policy.delay(method, fault)
    if policy.fails(method, fault):
        raise InjectedFault(fault.error_code, policy.flag_key)
