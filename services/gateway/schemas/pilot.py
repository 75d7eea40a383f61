"""Bodies of ``/api/v1/pilot``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from services.gateway.schemas.common import Strict, Text, example
from services.gateway.schemas.flags import FlagOut

CustomerCodes = Annotated[list[Annotated[str, Field(min_length=1, max_length=20)]], Field(min_length=1, max_length=50)]


class Cohort(Strict):
    model_config = example({"customer_codes": ["1000001", "1000002"], "reason": "first pilot customers"})

    customer_codes: CustomerCodes
    reason: Text = ""


class Percentage(Strict):
    model_config = example({"percent": 10, "reason": "one customer in ten beyond the cohort"})

    percent: float = Field(ge=0, le=100, description="share of customers outside the cohort who get the flag")
    reason: Text = ""


class PilotOut(BaseModel):
    customer_codes: list[str]
    percent: float
    flag: FlagOut
