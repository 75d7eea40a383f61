"""The demo logins (admin, dispatcher, driver01..driver08, sre and a customer, all with one demo password), the
first administrator, and the load-test logins ``luckygas load accounts`` lists."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.gateway.models import ROLES, User
from services.gateway.repository import UserRepository
from services.gateway.settings import GatewaySettings
from services.gateway.tokens import hash_password, verify_password
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


LOAD_ROLES = frozenset(ROLES)
# Load-test logins are named so; the seed touches no other user (a file naming admin cannot reset its password).
LOAD_USERNAME_PREFIX = "load-"


async def seed_load_users(settings: GatewaySettings, document: Mapping[str, Any]) -> tuple[int, int]:
    """Create the load-test logins listed in ``document`` (the file written by ``luckygas load accounts``: a password
    and accounts with username, role, display_name, customer_code), all with that one password. An existing
    login of that name is reused: its role, customer and password are set to the file's when they differ.
    Returns (created, updated)."""
    password = str(document.get("password") or "")
    if len(password) < MIN_ADMIN_PASSWORD_LENGTH:
        raise ValueError(f"the load accounts' password must be at least {MIN_ADMIN_PASSWORD_LENGTH} characters")
    accounts = list(document["accounts"])
    unknown = {str(account["role"]) for account in accounts} - LOAD_ROLES
    if unknown:
        raise ValueError(f"unknown roles in the accounts: {', '.join(sorted(unknown))}")
    foreign = sorted(str(a["username"]) for a in accounts if not str(a["username"]).startswith(LOAD_USERNAME_PREFIX))
    if foreign:
        named = ", ".join(foreign[:5])
        raise ValueError(f"not load-test usernames (those start with {LOAD_USERNAME_PREFIX!r}): {named}")
    # One hash for all (argon2 costs tens of ms a hash); a stored hash is checked once however many share it.
    password_hash = hash_password(password)
    checked: dict[str, bool] = {}
    database = Database(create_engine(settings.database_url, pool_size=1))
    created = updated = 0
    try:
        async with database.session() as session:
            users = UserRepository(session)
            for account in accounts:
                username, role = str(account["username"]), str(account["role"])
                customer_code = account.get("customer_code") or None
                user = await users.by_username(username, for_update=True)
                if user is None:
                    await users.add(
                        User(
                            username=username,
                            role=role,
                            display_name=str(account.get("display_name") or username),
                            customer_code=customer_code,
                            password_hash=password_hash,
                        )
                    )
                    created += 1
                    continue
                if user.password_hash not in checked:
                    checked[user.password_hash] = verify_password(user.password_hash, password)
                if (user.role, user.customer_code) != (role, customer_code) or not checked[user.password_hash]:
                    user.role, user.customer_code = role, customer_code
                    if not checked[user.password_hash]:
                        user.password_hash = password_hash
                    updated += 1
            await session.flush()
    finally:
        await database.dispose()
    return created, updated
