"""REST request and response bodies. Unknown fields are refused; the customer service does the business checks."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, get_args

from fastapi import Request
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.fields import FieldInfo

from services.platform.errors import FieldViolation, InvalidArgument
from services.platform.input_limits import (
    CONTROL_CHARACTER_REASON,
    CONTROL_CHARACTERS,
    FLOAT_REASON,
    INT32_MAX,
    INT32_MIN,
    MAX_NESTING,
    MAX_TEXT_LENGTH,
    NESTING_REASON,
    float_problem,
    text_problem,
)

Text = Annotated[str, Field(max_length=MAX_TEXT_LENGTH)]


class _Encoded:
    """Marks a field that carries a file as base64 text: its length is bounded by the request-body limit and by
    the check of what it decodes to, not by the limit on text a person types."""


_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _base64_alphabet(value: str) -> str:
    if not _BASE64.fullmatch(value):
        raise ValueError("must be base64 (A-Z, a-z, 0-9, + and /, padded with =)")
    return value


Base64 = Annotated[
    str, AfterValidator(_base64_alphabet), Field(json_schema_extra={"contentEncoding": "base64"}), _Encoded()
]


def _is_encoded(field: FieldInfo) -> bool:
    def marked(annotation: Any) -> bool:  # Base64 may sit inside Optional[...] or a list
        return any(isinstance(arg, _Encoded) or marked(arg) for arg in get_args(annotation))

    return any(isinstance(item, _Encoded) for item in field.metadata) or marked(field.annotation)


# What every field of every request body must be, whatever else its own rules say (the same limits every gRPC
# service applies to its requests): a value outside these is a 422 naming the field here, not an error in a
# service or the database. A file sent as base64 (``encoded``) is not held to the length of typed text: the body
# limit and the check of what it decodes to bound it.
def _check_value(value: Any, depth: int = 0, *, encoded: bool = False) -> None:
    if depth > MAX_NESTING:
        raise ValueError(NESTING_REASON)
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not INT32_MIN <= value <= INT32_MAX:
        raise ValueError(f"must be a whole number from {INT32_MIN} to {INT32_MAX}")
    if isinstance(value, float) and float_problem(value):
        raise ValueError(FLOAT_REASON)
    if isinstance(value, str) and not encoded and (reason := text_problem(value)):
        raise ValueError(reason)
    if isinstance(value, dict):
        for key, item in value.items():
            _check_value(key, depth + 1)
            _check_value(item, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check_value(item, depth + 1)


def parse_version_tag(if_match: str, what: str) -> int:
    """An If-Match header's version (``"3"`` or ``W/"3"``, as our ETags are) as a number the contracts can hold."""
    value = if_match.strip().removeprefix("W/").strip('"')
    if not re.fullmatch(r"[0-9]{1,10}", value) or not 1 <= int(value) <= INT32_MAX:
        raise InvalidArgument.for_field("If-Match", f'must be the ETag of the {what}, e.g. "3"')
    return int(value)


async def refuse_control_characters(request: Request) -> None:
    """The same for what the URL carries (search text, dates, ids): a control character in the path or a query
    parameter is a 422 naming it, before any route reads it."""
    violations = [
        FieldViolation(f"query.{key}", CONTROL_CHARACTER_REASON)
        for key, value in request.query_params.multi_items()
        if CONTROL_CHARACTERS.search(key) or CONTROL_CHARACTERS.search(value)
    ]
    if CONTROL_CHARACTERS.search(request.url.path):
        violations.append(FieldViolation("path", CONTROL_CHARACTER_REASON))
    if violations:
        raise InvalidArgument.from_violations(violations)


class Strict(BaseModel):
    """A request body: unknown fields refused, NaN and infinity refused, and every value within what the services
    and the database can hold (nested models are Strict too, so their fields are named in the error)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    _encoded_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _within_what_the_platform_holds(cls, value: Any, info: ValidationInfo) -> Any:
        _check_value(value, encoded=info.field_name in cls._encoded_fields)
        return value

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._encoded_fields = frozenset(name for name, field in cls.model_fields.items() if _is_encoded(field))


class CustomerBase(Strict):
    invoice_title: Text = ""
    tax_id: str = Field("", description="統一編號, 8 digits; empty for households", examples=["04595257"])
    phones: list[str] = Field(default_factory=list, examples=[["089-322-123", "0912-345-678"]])
    address: Text = ""
    postal_code: str = ""
    latitude: float | None = None
    longitude: float | None = None
    hourly_windows: list[bool] = Field(
        default_factory=list, description="12 one-hour windows 08-09 … 19-20; empty means all allowed"
    )
    slot_code: int | None = Field(None, description="0 all day, 1 morning, 2 afternoon, 3 evening; null = unset")
    rest_days: str = Field("", description='Rest days: "7", "6.7", "Red", "7(初一十五)", "10.20.30"')
    cylinders: dict[str, int] = Field(default_factory=dict, examples=[{"cylinder-20-regular": 3}])
    spare_cylinders: int = 0
    manifolded_cylinders: int = 0
    consumption_kg_per_day: float = 0.0
    max_cycle_days: int = 0
    slip_days: int = 0
    subscription: bool = False
    alert_device: bool = False
    credit_limit: int = Field(0, description="TWD")
    blocked: bool = False
    notes: Text = ""


class CustomerCreate(CustomerBase):
    code: str = Field(description="7-digit customer code", examples=["1000001"])
    short_name: Text = Field(examples=["鐵花小吃"])
    zone: str = Field(examples=["A"])
    segment: str = Field(examples=["night_market"])
    vehicle_requirement: str = Field(examples=["car"])
    pricing_method: str = Field(examples=["cylinder"])
    payment_terms: str = Field(examples=["cash"])


class CustomerPatch(Strict):
    """Only the fields present are changed."""

    code: str | None = None
    short_name: Text | None = None
    invoice_title: Text | None = None
    tax_id: str | None = None
    phones: list[str] | None = None
    address: Text | None = None
    postal_code: str | None = None
    zone: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    segment: str | None = None
    hourly_windows: list[bool] | None = None
    slot_code: int | None = None
    rest_days: str | None = None
    vehicle_requirement: str | None = None
    cylinders: dict[str, int] | None = None
    spare_cylinders: int | None = None
    manifolded_cylinders: int | None = None
    consumption_kg_per_day: float | None = None
    max_cycle_days: int | None = None
    slip_days: int | None = None
    pricing_method: str | None = None
    payment_terms: str | None = None
    subscription: bool | None = None
    alert_device: bool | None = None
    credit_limit: int | None = None
    blocked: bool | None = None
    notes: Text | None = None


class CustomerOut(CustomerCreate):
    model_config = ConfigDict(extra="ignore")

    id: str
    version: int
    terminated: bool
    termination_reason: str
    created_at: datetime
    updated_at: datetime
    terminated_at: datetime | None


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_page_token: str | None


class Termination(Strict):
    reason: Text = Field("", examples=["shop closed"])


class LoginRequest(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(Strict):
    refresh_token: str = Field(min_length=1, max_length=4096)


class PasswordChange(Strict):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(
        min_length=12, max_length=256, description="At least 12 characters; a passphrase of a few words is best"
    )


class UserState(BaseModel):
    username: str
    role: str
    disabled: bool


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


class Me(BaseModel):
    user_id: str
    username: str
    role: str
    customer_code: str | None


def timestamp_field(message: Any, field: str) -> datetime | None:
    """A protobuf Timestamp field as an aware UTC datetime; None when it is unset."""
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)
