"""A failed call to another service as the caller's own error (services/platform/downstream.py)."""

from __future__ import annotations

import grpc
import pytest

from services.platform.downstream import downstream_error, has_status
from services.platform.errors import FailedPrecondition, NotFound, Unavailable, VersionConflict


def _failed(code: grpc.StatusCode, details: str = "") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED]
)
def test_a_service_that_did_not_answer_is_unavailable(code: grpc.StatusCode) -> None:
    error = downstream_error("customer", _failed(code, "connection refused"), pass_on=[code])
    assert type(error) is Unavailable
    assert str(error) == f"the customer service did not answer ({code.name})"


def test_a_status_passed_on_is_the_same_domain_error_with_the_callees_details() -> None:
    error = downstream_error(
        "order", _failed(grpc.StatusCode.NOT_FOUND, "order 42 does not exist"), pass_on=[grpc.StatusCode.NOT_FOUND]
    )
    assert type(error) is NotFound
    assert str(error) == "order 42 does not exist"
    moved = downstream_error(
        "order", _failed(grpc.StatusCode.FAILED_PRECONDITION, ""), pass_on=[grpc.StatusCode.FAILED_PRECONDITION]
    )
    assert type(moved) is FailedPrecondition
    assert str(moved) == "the order service answered FAILED_PRECONDITION"
    stale = downstream_error("order", _failed(grpc.StatusCode.ABORTED, "stale"), pass_on=[grpc.StatusCode.ABORTED])
    assert type(stale) is VersionConflict


@pytest.mark.parametrize("code", [grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN])
def test_any_other_status_means_the_callee_failed(code: grpc.StatusCode) -> None:
    error = downstream_error("customer", _failed(code, "boom"))
    assert type(error) is Unavailable
    assert str(error) == f"the customer service failed ({code.name}: boom)"


def test_has_status_tells_a_grpc_failure_by_its_code() -> None:
    assert has_status(_failed(grpc.StatusCode.NOT_FOUND), grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ABORTED)
    assert not has_status(_failed(grpc.StatusCode.INTERNAL), grpc.StatusCode.NOT_FOUND)
    assert not has_status(ValueError("not a call"), grpc.StatusCode.NOT_FOUND)
