"""Bodies of ``/api/v1/auth`` and ``/api/v1/users``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.gateway.schemas.common import Strict, example


class LoginRequest(Strict):
    # The demo users' documented password (README), so "Try it out" in /docs works against `make up`.
    model_config = example({"username": "dispatcher", "password": "luckygas-demo"})  # nosec B105

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(Strict):
    model_config = example({"refresh_token": "<the refresh_token of the last login or refresh>"})  # nosec B105

    refresh_token: str = Field(min_length=1, max_length=4096)


class PasswordChange(Strict):
    model_config = example(
        {"current_password": "<your password>", "new_password": "<at least 12 characters>"}  # nosec B105  # placeholders
    )

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
