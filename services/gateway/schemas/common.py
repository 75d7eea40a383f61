"""What every REST request body obeys: unknown fields refused, and every value within what the services and the
database can hold (the limits of services/platform/input_limits.py), so bad input is a 422 naming the field."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, get_args

from fastapi import Request
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


def example(body: dict[str, Any]) -> ConfigDict:
    """A request body's example for /docs and generated clients (tests/gateway/test_openapi.py checks that each is
    a body its model takes)."""
    return ConfigDict(json_schema_extra={"examples": [body]})


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
