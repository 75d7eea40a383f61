"""Bodies of ``/api/v1/flags`` and of a customer's flags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from services.gateway.schemas.common import Strict, Text, example


class FlagOut(BaseModel):
    key: str
    definition: dict[str, Any] = Field(description="flagd flag definition")
    description: str
    version: int
    updated_at: datetime | None
    updated_by: str
    deleted: bool


class FlagList(BaseModel):
    items: list[FlagOut]
    revision: int


class FlagPut(Strict):
    model_config = example(
        {
            "definition": {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off"},
            "description": "new delivery-proof screen",
            "reason": "pilot in zone A",
        }
    )

    definition: dict[str, Any] = Field(
        description="flagd flag definition",
        examples=[{"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off"}],
    )
    description: str = Field("", max_length=500)
    reason: Text = ""


class Reason(Strict):
    model_config = example({"reason": "wrong prices shown; off until fixed"})

    reason: Text = ""


class Restore(Strict):
    model_config = example({"version": 3, "reason": "back to the last good definition"})

    version: int = Field(ge=1, description="the earlier version whose definition becomes current again")
    reason: Text = ""


class AuditEntryOut(BaseModel):
    sequence: int
    flag_key: str
    flag_version: int
    action: str
    actor: str
    actor_role: str
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: datetime | None


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_page_token: str | None


class EvaluateIn(Strict):
    model_config = example({"context": {"targetingKey": "1000001", "zone": "A"}})

    context: dict[str, Any] = Field(
        default_factory=dict, description='evaluation context; "targetingKey" is the customer code'
    )


class EvaluationOut(BaseModel):
    flag_key: str
    value: Any
    variant: str
    reason: str
    error_code: str
    error_message: str
    flag_version: int


class CustomerFlags(BaseModel):
    customer_id: str
    customer_code: str
    context: dict[str, Any]
    flags: list[EvaluationOut]
    revision: int
