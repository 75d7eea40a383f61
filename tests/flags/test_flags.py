"""Flags through a real gRPC server and channel: create, read, change with versions, kill, restore, delete."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from luckygas.flags.v1 import flags_pb2 as pb
from luckygas.flags.v1 import flags_pb2_grpc

from services.platform.interceptors import VIOLATIONS_METADATA_KEY
from tests.flags.factories import ADMIN, DISPATCHER, SRE, boolean_flag, definition_of, put_request

Stub = flags_pb2_grpc.FlagServiceStub


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    for key, value in error.trailing_metadata() or ():
        if key == VIOLATIONS_METADATA_KEY:
            return {item["field"]: item["reason"] for item in json.loads(value)}
    return {}


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    return raised.value


async def test_create_then_get_returns_version_one(flags: Stub) -> None:
    created = await flags.PutFlag(put_request("new-platform", boolean_flag(), description="新平台", reason="pilot"))

    fetched = await flags.GetFlag(pb.GetFlagRequest(key="new-platform"))

    assert fetched == created
    assert (fetched.version, fetched.deleted, fetched.updated_by) == (1, False, "alice")
    assert fetched.description == "新平台"
    assert definition_of(fetched) == boolean_flag()
    assert fetched.updated_at.seconds > 0


async def test_get_unknown_flag_is_not_found(flags: Stub) -> None:
    error = await refused(flags.GetFlag(pb.GetFlagRequest(key="nothing-here")))
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_list_returns_every_live_flag_by_key_at_the_latest_revision(flags: Stub) -> None:
    for key in ("b-flag", "a-flag", "c-flag"):
        await flags.PutFlag(put_request(key))
    await flags.DeleteFlag(pb.DeleteFlagRequest(key="c-flag", actor=ADMIN))

    listed = await flags.ListFlags(pb.ListFlagsRequest())

    assert [flag.key for flag in listed.flags] == ["a-flag", "b-flag"]
    audit = await flags.ListAudit(pb.ListAuditRequest())
    assert listed.revision == audit.entries[0].sequence
    assert listed.full


async def test_change_with_current_version_makes_the_next_version(flags: Stub) -> None:
    await flags.PutFlag(put_request("checkout"))

    changed = await flags.PutFlag(put_request("checkout", boolean_flag(default="on"), expected_version=1))

    assert changed.version == 2
    assert definition_of(changed)["defaultVariant"] == "on"


async def test_stale_version_is_aborted_and_changes_nothing(flags: Stub) -> None:
    await flags.PutFlag(put_request("checkout"))
    await flags.PutFlag(put_request("checkout", boolean_flag(default="on"), expected_version=1))

    error = await refused(flags.PutFlag(put_request("checkout", boolean_flag(), expected_version=1)))

    assert error.code() == grpc.StatusCode.ABORTED
    assert violations(error)["expected_version"] == "stale: current version is 2"
    current = await flags.GetFlag(pb.GetFlagRequest(key="checkout"))
    assert (current.version, definition_of(current)["defaultVariant"]) == (2, "on")


async def test_creating_an_existing_flag_is_aborted(flags: Stub) -> None:
    await flags.PutFlag(put_request("checkout"))
    error = await refused(flags.PutFlag(put_request("checkout")))
    assert error.code() == grpc.StatusCode.ABORTED


async def test_changing_a_flag_that_does_not_exist_is_not_found(flags: Stub) -> None:
    error = await refused(flags.PutFlag(put_request("ghost", expected_version=3)))
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_concurrent_changes_from_one_version_let_exactly_one_win(flags: Stub) -> None:
    await flags.PutFlag(put_request("race"))
    attempts = [
        flags.PutFlag(put_request("race", boolean_flag(default="on"), description=f"writer {n}", expected_version=1))
        for n in range(8)
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)

    won = [result for result in results if isinstance(result, pb.Flag)]
    lost = [result for result in results if isinstance(result, grpc.aio.AioRpcError)]
    assert len(won) == 1
    assert [error.code() for error in lost] == [grpc.StatusCode.ABORTED] * 7
    current = await flags.GetFlag(pb.GetFlagRequest(key="race"))
    assert current == won[0]
    assert current.version == 2


async def test_putting_the_same_definition_again_makes_no_new_version(flags: Stub) -> None:
    await flags.PutFlag(put_request("steady", description="same"))

    again = await flags.PutFlag(put_request("steady", description="same", expected_version=1))

    assert again.version == 1
    audit = await flags.ListAudit(pb.ListAuditRequest(flag_key="steady"))
    assert len(audit.entries) == 1


@pytest.mark.parametrize("key", ["", "Upper", "-leading", "has space", "x" * 101, "emoji-🙂", "a/b"])
async def test_malformed_keys_are_invalid(flags: Stub, key: str) -> None:
    error = await refused(flags.PutFlag(put_request(key)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "key" in violations(error)


@pytest.mark.parametrize("key", ["a", "0", "new-platform", "fault.order.create_order", "a_b-c.d", "x" * 100])
async def test_well_formed_keys_are_accepted(flags: Stub, key: str) -> None:
    created = await flags.PutFlag(put_request(key))
    assert created.key == key


@pytest.mark.parametrize(
    ("definition_json", "field"),
    [
        ("", "definition_json"),
        ("not json", "definition_json"),
        ("[1, 2]", "definition_json"),
    ],
)
async def test_malformed_definitions_are_invalid(flags: Stub, definition_json: str, field: str) -> None:
    request = put_request("bad")
    request.definition_json = definition_json
    error = await refused(flags.PutFlag(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(error)


async def test_a_definition_the_engine_refuses_is_invalid_with_its_field(flags: Stub) -> None:
    error = await refused(flags.PutFlag(put_request("bad", boolean_flag(default="maybe"))))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert any("defaultVariant" in field for field in violations(error))


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({"state": "ENABLED", "variants": {"a": True, "b": "x"}, "defaultVariant": "a"}, "definition_json.variants"),
        (boolean_flag(targeting={"if": [True, "maybe", "off"]}), "definition_json.targeting"),
        (boolean_flag(owner="me"), "definition_json.owner"),
        ({"variants": {"on": True}, "defaultVariant": "on"}, "definition_json.state"),
    ],
)
async def test_the_engine_names_the_field_it_refuses(flags: Stub, definition: dict[str, object], field: str) -> None:
    error = await refused(flags.PutFlag(put_request("bad", definition)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert any(name.startswith(field) for name in violations(error)), violations(error)


async def test_definitions_are_stored_in_the_engines_canonical_form(flags: Stub) -> None:
    created = await flags.PutFlag(put_request("tidy", boolean_flag(targeting={})))
    assert definition_of(created) == boolean_flag()


async def test_a_change_without_an_actor_is_invalid(flags: Stub) -> None:
    error = await refused(flags.PutFlag(put_request("anonymous", actor=pb.Actor())))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(error)) == {"actor.username", "actor.role"}


async def test_kill_disables_the_flag_as_a_new_version(flags: Stub) -> None:
    await flags.PutFlag(put_request("new-platform", boolean_flag(default="on")))

    killed = await flags.KillFlag(pb.KillFlagRequest(key="new-platform", actor=ADMIN, reason="orders failing"))

    assert killed.version == 2
    assert definition_of(killed) == boolean_flag(default="on", state="DISABLED")


async def test_killing_a_killed_flag_changes_nothing_and_writes_no_audit(flags: Stub) -> None:
    await flags.PutFlag(put_request("new-platform"))
    first = await flags.KillFlag(pb.KillFlagRequest(key="new-platform", actor=ADMIN))

    second = await flags.KillFlag(pb.KillFlagRequest(key="new-platform", actor=DISPATCHER))

    assert second == first
    audit = await flags.ListAudit(pb.ListAuditRequest(flag_key="new-platform"))
    assert [entry.action for entry in audit.entries] == ["kill", "create"]


async def test_killing_an_unknown_flag_is_not_found(flags: Stub) -> None:
    error = await refused(flags.KillFlag(pb.KillFlagRequest(key="ghost", actor=ADMIN)))
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_restore_brings_an_earlier_definition_back_as_a_new_version(flags: Stub) -> None:
    await flags.PutFlag(put_request("pilot", boolean_flag(default="off"), description="v1"))
    await flags.PutFlag(put_request("pilot", boolean_flag(default="on"), description="v2", expected_version=1))
    await flags.KillFlag(pb.KillFlagRequest(key="pilot", actor=ADMIN))

    restored = await flags.RestoreFlag(pb.RestoreFlagRequest(key="pilot", version=2, actor=ADMIN, reason="fixed"))

    assert restored.version == 4
    assert definition_of(restored) == boolean_flag(default="on")
    assert restored.description == "v2"
    first = await flags.RestoreFlag(pb.RestoreFlagRequest(key="pilot", version=1, actor=ADMIN))
    assert (first.version, definition_of(first), first.description) == (5, boolean_flag(default="off"), "v1")


async def test_restoring_a_version_that_never_existed_is_not_found(flags: Stub) -> None:
    await flags.PutFlag(put_request("pilot"))
    error = await refused(flags.RestoreFlag(pb.RestoreFlagRequest(key="pilot", version=7, actor=ADMIN)))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = await refused(flags.RestoreFlag(pb.RestoreFlagRequest(key="pilot", version=0, actor=ADMIN)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_delete_hides_the_flag_and_keeps_its_history(flags: Stub) -> None:
    await flags.PutFlag(put_request("old-feature"))

    deleted = await flags.DeleteFlag(pb.DeleteFlagRequest(key="old-feature", expected_version=1, actor=ADMIN))

    assert (deleted.version, deleted.deleted) == (2, True)
    fetched = await flags.GetFlag(pb.GetFlagRequest(key="old-feature"))
    assert fetched.deleted
    assert "old-feature" not in [flag.key for flag in (await flags.ListFlags(pb.ListFlagsRequest())).flags]
    again = await flags.DeleteFlag(pb.DeleteFlagRequest(key="old-feature", actor=ADMIN))
    assert again == deleted


async def test_delete_with_a_stale_version_is_aborted(flags: Stub) -> None:
    await flags.PutFlag(put_request("old-feature"))
    await flags.PutFlag(put_request("old-feature", boolean_flag(default="on"), expected_version=1))
    error = await refused(flags.DeleteFlag(pb.DeleteFlagRequest(key="old-feature", expected_version=1, actor=ADMIN)))
    assert error.code() == grpc.StatusCode.ABORTED


async def test_a_deleted_flag_can_be_created_again_or_restored(flags: Stub) -> None:
    await flags.PutFlag(put_request("comeback"))
    await flags.DeleteFlag(pb.DeleteFlagRequest(key="comeback", actor=ADMIN))

    recreated = await flags.PutFlag(put_request("comeback", boolean_flag(default="on")))
    assert (recreated.version, recreated.deleted) == (3, False)

    await flags.DeleteFlag(pb.DeleteFlagRequest(key="comeback", actor=ADMIN))
    restored = await flags.RestoreFlag(pb.RestoreFlagRequest(key="comeback", version=1, actor=ADMIN))
    assert (restored.version, restored.deleted, definition_of(restored)) == (5, False, boolean_flag())


@pytest.mark.parametrize("role", ["dispatcher", "driver", "customer", "office"])
async def test_fault_flags_refuse_every_write_from_other_roles(flags: Stub, role: str) -> None:
    await flags.PutFlag(put_request("fault.order", expected_version=0, actor=SRE))
    actor = pb.Actor(username="someone", role=role)

    calls = [
        flags.PutFlag(put_request("fault.order", boolean_flag(default="on"), expected_version=1, actor=actor)),
        flags.PutFlag(put_request("fault.customer", actor=actor)),
        flags.KillFlag(pb.KillFlagRequest(key="fault.order", actor=actor)),
        flags.RestoreFlag(pb.RestoreFlagRequest(key="fault.order", version=1, actor=actor)),
        flags.DeleteFlag(pb.DeleteFlagRequest(key="fault.order", actor=actor)),
        flags.ImportFlags(
            pb.ImportFlagsRequest(document_json=json.dumps({"flags": {"fault.order": boolean_flag()}}), actor=actor)
        ),
    ]
    for call in calls:
        assert (await refused(call)).code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await flags.GetFlag(pb.GetFlagRequest(key="fault.order"))).version == 1


@pytest.mark.parametrize("actor", [SRE, ADMIN])
async def test_sre_and_admin_change_fault_flags(flags: Stub, actor: pb.Actor) -> None:
    created = await flags.PutFlag(put_request("fault.gateway", actor=actor))
    killed = await flags.KillFlag(pb.KillFlagRequest(key="fault.gateway", actor=actor))
    assert (created.version, killed.version) == (1, 2)


async def test_other_roles_change_ordinary_flags(flags: Stub) -> None:
    created = await flags.PutFlag(put_request("faultless", actor=DISPATCHER))
    assert created.updated_by == "dora"
