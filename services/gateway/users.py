"""The demo logins: admin, dispatcher, driver01..driver08, sre and a customer, all with one demo password."""

from __future__ import annotations

from services.gateway.models import User
from services.gateway.repository import UserRepository
from services.gateway.settings import GatewaySettings
from services.gateway.tokens import hash_password
from services.platform.database import Database, create_engine

# The customer login sees the first demo customer's orders (code 1000001 in the demo data).
DEMO_USERS: list[tuple[str, str, str, str | None]] = [
    ("admin", "admin", "系統管理員", None),
    ("dispatcher", "dispatcher", "調度員", None),
    *[(f"driver{number:02d}", "driver", f"司機 {number:02d}", None) for number in range(1, 9)],
    ("sre", "sre", "SRE", None),
    ("customer01", "customer", "客戶 01", "1000001"),
]


MIN_ADMIN_PASSWORD_LENGTH = 12


async def seed_demo_users(settings: GatewaySettings) -> int:
    """Create the demo users that do not exist yet; returns how many were created."""
    database = Database(create_engine(settings.database_url, pool_size=1))
    created = 0
    try:
        async with database.session() as session:
            users = UserRepository(session)
            for username, role, display_name, customer_code in DEMO_USERS:
                if await users.by_username(username) is None:
                    await users.add(
                        User(
                            username=username,
                            role=role,
                            display_name=display_name,
                            customer_code=customer_code,
                            password_hash=hash_password(settings.demo_password),
                        )
                    )
                    created += 1
    finally:
        await database.dispose()
    return created


BOOTSTRAP_ADMIN = "admin"


async def bootstrap_admin(settings: GatewaySettings) -> bool:
    """Create the first administrator, ``admin`` with LUCKYGAS_ADMIN_PASSWORD, unless a user of that name exists
    (its password, perhaps changed since, is left alone). Returns whether it was created."""
    if len(settings.admin_password) < MIN_ADMIN_PASSWORD_LENGTH:
        raise ValueError(f"LUCKYGAS_ADMIN_PASSWORD must be at least {MIN_ADMIN_PASSWORD_LENGTH} characters")
    database = Database(create_engine(settings.database_url, pool_size=1))
    try:
        async with database.session() as session:
            users = UserRepository(session)
            if await users.by_username(BOOTSTRAP_ADMIN) is not None:
                return False
            await users.add(
                User(
                    username=BOOTSTRAP_ADMIN,
                    role="admin",
                    display_name="系統管理員",
                    customer_code=None,
                    password_hash=hash_password(settings.admin_password),
                )
            )
            return True
    finally:
        await database.dispose()
