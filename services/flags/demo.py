"""The pilot's flags as the business planned them (docs/domain.md#pilot-rollout).

``new-platform`` starts with a 5-customer cohort: the first five demo customers (their codes are fixed by the
customer service's demo seed); office staff grow it to 10 and 20, then switch to a percentage rollout. The
fault-injection flags exist from the start, switched off, so an SRE only has to fill in and enable one.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from services.flags.fanout import publish
from services.flags.schemas import Actor, ChangeSet, to_json
from services.flags.service import FlagService
from services.flags.settings import FlagSettings
from services.platform.database import Database, create_engine
from services.platform.errors import NotFound, VersionConflict
from services.platform.flags.documents import pilot_flag

# The first five customers of the customer service's demo data set (codes leave gaps where accounts closed).
PILOT_COHORT = ("1000001", "1000002", "1000003", "1000012", "1000013")
FAULT_SERVICES = ("customer", "order", "gateway")
SEED_ACTOR = Actor(username="luckygas-seed", role="admin")


def fault_flag() -> dict[str, Any]:
    """Defined, off: a DISABLED flag evaluates to the code default, i.e. no fault."""
    return {"state": "DISABLED", "variants": {"none": {}}, "defaultVariant": "none"}


def demo_flags() -> list[tuple[str, dict[str, Any], str]]:
    """(key, definition, description) of every demo flag."""
    flags = [
        (
            "new-platform",
            # On for the cohort (targetingKey = customer code); everyone else gets the default "off" (DEFAULT).
            pilot_flag(PILOT_COHORT),
            "新平台試營運 The new platform serves these customers: pilot cohort 5 → 10 → 20, then 10% → 50% → 100%",
        )
    ]
    for service in FAULT_SERVICES:
        flags.append(
            (
                f"fault.{service}",
                fault_flag(),
                f"Fault injection in the {service} service (added latency, error rate); SRE and admin only",
            )
        )
    return flags


async def seed_flags(flags: FlagService) -> tuple[int, int]:
    """Create each demo flag that does not exist (a flag that exists, even changed or deleted, is left alone)."""
    created = existing = 0
    for key, definition, description in demo_flags():
        try:
            await flags.get(key)
            existing += 1
            continue
        except NotFound:
            pass
        try:
            await flags.put(key, to_json(definition), description, 0, SEED_ACTOR, "demo seed")
            created += 1
        except VersionConflict:  # a concurrent seed created it first
            existing += 1
    return created, existing


async def seed_demo(settings: FlagSettings) -> str:
    """The ``seed`` command: a line saying what it did. A running flag service hears of it through Redis."""
    database = Database(create_engine(settings.database_url, pool_size=2, application_name="flags-seed"))
    redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)

    async def announce(changes: ChangeSet) -> None:
        await publish(redis, changes)

    try:
        created, existing = await seed_flags(FlagService(database, announce))
    finally:
        await redis.aclose()
        await database.dispose()
    return f"demo flags: {created} created, {existing} already defined"
