"""The load-test seed touches load-test logins only."""

from __future__ import annotations

import pytest

from services.gateway.settings import GatewaySettings
from services.gateway.users import seed_load_users


async def test_a_file_naming_a_real_user_is_refused_before_anything_is_written() -> None:
    settings = GatewaySettings(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    document = {"password": "long-enough-password", "accounts": [{"username": "admin", "role": "admin"}]}
    with pytest.raises(ValueError, match=r"not load-test usernames .*: admin"):
        await seed_load_users(settings, document)
