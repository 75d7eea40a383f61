"""schemathesis against the running platform's own OpenAPI document, as each role and as nobody.

Every operation gets requests generated from its documented parameters and bodies (valid ones and, in schemathesis's
negative mode, invalid ones: wrong types, out-of-range numbers, missing fields), each sent with no token and with a
token of every role. No response may be a 5xx, and each must match what the document says of it (status, content
type, body schema), and an error must be one the operation lists by its own status, not one left to the
document's catch-all ``default``. Examples are derandomized, so a failure reproduces run after run, and hypothesis
prints the request that failed. The figures (cases, operations, statuses) are printed at the end of the module.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from e2e.conftest import Platform, demo_platform, log_in

pytestmark = pytest.mark.e2e

USERS = ("admin", "dispatcher", "driver01", "sre", "customer01")
# Per operation and generation mode; each example is sent once per user and once without a token.
EXAMPLES_PER_OPERATION = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Logging out would end the very tokens the other operations are fuzzed with; tests/gateway/test_auth.py covers it.
NOT_FUZZED = r"/api/v1/auth/logout"


@pytest.fixture(scope="module")
def fuzzed_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root: Path = tmp_path_factory.mktemp("fuzzed")
    with demo_platform(root / "luckygas") as running:
        yield running


@pytest.fixture(scope="module")
def api(fuzzed_platform: Platform) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed_platform.base_url}/openapi.json").exclude(path_regex=NOT_FUZZED)


@pytest.fixture(scope="module")
def listed(fuzzed_platform: Platform) -> dict[str, set[int]]:
    """Each operation ("POST /api/v1/orders") → the statuses its document lists by number."""
    document = httpx.get(f"{fuzzed_platform.base_url}/openapi.json", timeout=60).json()
    return {
        f"{method.upper()} {path}": {int(status) for status in operation["responses"] if status.isdigit()}
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


@pytest.fixture(scope="module")
def callers(fuzzed_platform: Platform) -> dict[str, dict[str, str]]:
    """Headers of each caller: nobody, then each demo user (a real login)."""
    with httpx.Client(base_url=fuzzed_platform.base_url, timeout=60) as client:
        return {"anonymous": {}, **{user: log_in(client, user) for user in USERS}}


@pytest.fixture(scope="module")
def figures(request: pytest.FixtureRequest) -> Iterator[collections.Counter[tuple[str, int]]]:
    """(operation, status) → responses; printed when the module ends."""
    seen: collections.Counter[tuple[str, int]] = collections.Counter()
    started = time.perf_counter()
    yield seen
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and seen:
        statuses = collections.Counter(status for _, status in seen.elements())
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nschemathesis: {sum(seen.values())} responses from {len({operation for operation, _ in seen})}"
                f" operations in {time.perf_counter() - started:.0f} s; statuses {dict(sorted(statuses.items()))}"
            )


def fuzzer(
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    callers: dict[str, dict[str, str]],
    session: requests.Session,
    figures: collections.Counter[tuple[str, int]],
    unlisted: set[tuple[str, int]],
    listed: set[int],
) -> Callable[[], None]:
    """Runs the examples of one operation; raises what the first failing one found."""
    label = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: schemathesis.Case[Any]) -> None:
        for caller, headers in callers.items():
            response = case.call_and_validate(session=session, headers=headers, checks=CHECKS, timeout=60)
            figures[(label, response.status_code)] += 1
            if response.status_code >= 400 and response.status_code not in listed:
                unlisted.add((label, response.status_code))
            assert response.status_code < 500, f"as {caller}: {label} answered {response.status_code}"

    return fuzz


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda mode: mode.value)
def test_no_request_is_a_server_error_or_off_the_document(
    api: schemathesis.BaseSchema,
    callers: dict[str, dict[str, str]],
    figures: collections.Counter[tuple[str, int]],
    listed: dict[str, set[int]],
    mode: GenerationMode,
) -> None:
    failures: list[str] = []
    unlisted: set[tuple[str, int]] = set()
    operations = [result.ok() for result in api.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) > 50, "the document lists the platform's operations"
    with requests.Session() as session:
        for operation in operations:
            try:
                label = f"{operation.method.upper()} {operation.path}"
                fuzzer(operation, mode, callers, session, figures, unlisted, listed[label])()
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE, f"{operation.path}: no request can be generated"
                # Nothing to make invalid: the operation takes no parameters and no body (e.g. GET /healthz).
            except Exception as failure:  # noqa: BLE001 - every operation is fuzzed; all failures are reported at once
                failures.append(f"{operation.method.upper()} {operation.path}: {failure}")
    assert not failures, "\n\n".join(failures)
    assert not unlisted, f"errors the document does not list for the operation: {sorted(unlisted)}"
