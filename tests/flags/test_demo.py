"""The demo seed: the pilot's flags as planned, idempotent, and its cohort really is demo customers."""

from __future__ import annotations

from luckygas.flags.v1 import flags_pb2 as pb
from luckygas.flags.v1 import flags_pb2_grpc

from services.customer.demo import generate_customers, parse_seed_spec
from services.flags.app import RunningFlagService
from services.flags.demo import PILOT_COHORT, seed_flags
from services.flags.schemas import Actor
from services.flags.service import FlagService
from services.platform.database import Database

Stub = flags_pb2_grpc.FlagServiceStub


async def test_seed_defines_the_pilot_flag_and_disabled_fault_flags(flags_database: Database) -> None:
    created, existing = await seed_flags(FlagService(flags_database))

    snapshot = await FlagService(flags_database).snapshot()
    by_key = {flag.key: flag for flag in snapshot.flags}
    assert (created, existing) == (4, 0)
    assert sorted(by_key) == ["fault.customer", "fault.gateway", "fault.order", "new-platform"]
    for key in ("fault.customer", "fault.gateway", "fault.order"):
        definition = by_key[key].definition
        assert definition["state"] == "DISABLED"
        assert definition["variants"][definition["defaultVariant"]] == {}
    pilot = by_key["new-platform"].definition
    assert pilot["state"] == "ENABLED"
    assert pilot["variants"][pilot["defaultVariant"]] is False


async def test_seeding_twice_changes_nothing(flags_database: Database) -> None:
    await seed_flags(FlagService(flags_database))
    service = FlagService(flags_database)
    await service.kill("new-platform", Actor("alice", "admin"), "testing")

    assert await seed_flags(service) == (0, 4)
    assert (await service.get("new-platform")).version == 2
    audit = await service.list_audit("", 100, "")
    assert len(audit.entries) == 5


async def test_the_pilot_cohort_is_the_first_five_demo_customers() -> None:
    demo_codes = [customer.code for customer in generate_customers(parse_seed_spec("demo"))[:5]]
    assert list(PILOT_COHORT) == demo_codes


async def test_the_pilot_flag_is_on_for_the_cohort_only(
    flags: Stub, flag_server: RunningFlagService, flags_database: Database
) -> None:
    await seed_flags(FlagService(flags_database))
    await flag_server.sync.resync()  # the seed ran beside the server, as `luckygas up --seed demo` does

    async def value(code: str) -> bool:
        context = {"targetingKey": code}
        request = pb.EvaluateFlagRequest(flag_key="new-platform")
        request.context.update(context)
        return bool((await flags.EvaluateFlag(request)).value.bool_value)

    assert [await value(code) for code in PILOT_COHORT] == [True] * 5
    assert not await value("1000004")
    assert not await value("9999999")
