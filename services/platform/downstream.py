"""A failed call to another service, as the caller's own domain error: the translation at the adapter boundary.

A callee that did not answer (unavailable, out of time, overloaded) is Unavailable, which the caller's own
caller may retry. A status the caller chooses to pass on becomes the same domain error, with the callee's
details. Any other status means the callee failed: Unavailable to our caller too, never a fault of theirs.
"""

from __future__ import annotations

from collections.abc import Collection

import grpc

from services.platform.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    VersionConflict,
)

UNANSWERED = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)
# The inverse of services/platform/interceptors.py's table, for the statuses a caller may pass on.
_PASSED_ON: dict[grpc.StatusCode, type[DomainError]] = {
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ABORTED: VersionConflict,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
}


def has_status(error: BaseException, *codes: grpc.StatusCode) -> bool:
    """Whether ``error`` is a gRPC call's failure with one of ``codes`` (e.g. NOT_FOUND, to answer a default)."""
    return isinstance(error, grpc.aio.AioRpcError) and error.code() in codes


def downstream_error(
    service: str, error: grpc.aio.AioRpcError, *, pass_on: Collection[grpc.StatusCode] = ()
) -> DomainError:
    """The error to raise (``from error``) for a failed call to the ``service`` service."""
    code = error.code()
    if code in UNANSWERED:
        return Unavailable(f"the {service} service did not answer ({code.name})")
    if code in pass_on and code in _PASSED_ON:
        return _PASSED_ON[code](error.details() or f"the {service} service answered {code.name}")
    return Unavailable(f"the {service} service failed ({code.name}: {error.details()})")
