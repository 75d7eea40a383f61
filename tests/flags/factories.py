"""Flag definitions and requests for tests."""

from __future__ import annotations

import json
from typing import Any

from luckygas.flags.v1 import flags_pb2 as pb

ADMIN = pb.Actor(username="alice", role="admin")
DISPATCHER = pb.Actor(username="dora", role="dispatcher")
SRE = pb.Actor(username="sam", role="sre")


def boolean_flag(default: str = "off", state: str = "ENABLED", **extra: Any) -> dict[str, Any]:
    return {"state": state, "variants": {"on": True, "off": False}, "defaultVariant": default, **extra}


def cohort_flag(codes: list[str]) -> dict[str, Any]:
    return boolean_flag(targeting={"if": [{"in": [{"var": "targetingKey"}, codes]}, "on", "off"]})


def put_request(
    key: str,
    definition: dict[str, Any] | None = None,
    *,
    expected_version: int = 0,
    actor: pb.Actor = ADMIN,
    description: str = "",
    reason: str = "",
) -> pb.PutFlagRequest:
    return pb.PutFlagRequest(
        key=key,
        definition_json=json.dumps(boolean_flag() if definition is None else definition),
        description=description,
        expected_version=expected_version,
        actor=actor,
        reason=reason,
    )


def definition_of(flag: pb.Flag) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(flag.definition_json)
    return value
