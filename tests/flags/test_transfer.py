"""Import and export of flagd flag-definition documents."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from luckygas.flags.v1 import flags_pb2 as pb
from luckygas.flags.v1 import flags_pb2_grpc

from services.platform.flags.documents import load_document
from tests.flags.factories import ADMIN, DISPATCHER, SRE, boolean_flag, cohort_flag, definition_of, put_request

Stub = flags_pb2_grpc.FlagServiceStub

DOCUMENT: dict[str, Any] = {
    "$schema": "https://flagd.dev/schema/v0/flags.json",
    "flags": {
        "new-platform": cohort_flag(["1000001", "1000002"]),
        "route-colour": {
            "state": "DISABLED",
            "variants": {"red": "#FF0000", "blue": "#0000FF"},
            "defaultVariant": "red",
            "targeting": {"if": [{"in": [{"var": "zone"}, ["A", "B"]]}, "blue", "red"]},
            "metadata": {"owner": "dispatch"},
        },
        "rollout": boolean_flag(targeting={"fractional": [["on", 10], ["off", 90]]}),
    },
}


def import_request(document: dict[str, Any], actor: pb.Actor = ADMIN, reason: str = "") -> pb.ImportFlagsRequest:
    return pb.ImportFlagsRequest(document_json=json.dumps(document), actor=actor, reason=reason)


async def test_a_document_round_trips_through_import_and_export(flags: Stub) -> None:
    imported = await flags.ImportFlags(import_request(DOCUMENT, reason="from flagd"))

    exported = await flags.ExportFlags(pb.ExportFlagsRequest())

    assert [flag.key for flag in imported.flags] == ["new-platform", "rollout", "route-colour"]
    assert all(flag.version == 1 for flag in imported.flags)
    assert json.loads(exported.document_json) == DOCUMENT
    again = await flags.ImportFlags(import_request(json.loads(exported.document_json)))
    assert list(again.flags) == []


async def test_import_changes_only_what_differs_with_one_audit_row_each(flags: Stub) -> None:
    await flags.PutFlag(put_request("new-platform", cohort_flag(["1000001", "1000002"]), description="pilot"))
    await flags.PutFlag(put_request("rollout", boolean_flag()))
    await flags.PutFlag(put_request("untouched", boolean_flag()))

    imported = await flags.ImportFlags(import_request(DOCUMENT, reason="sync from staging"))

    assert [(flag.key, flag.version) for flag in imported.flags] == [("rollout", 2), ("route-colour", 1)]
    entries = (await flags.ListAudit(pb.ListAuditRequest(page_size=2))).entries
    assert [(e.flag_key, e.action, e.reason) for e in entries] == [
        ("route-colour", "import", "sync from staging"),
        ("rollout", "import", "sync from staging"),
    ]
    assert json.loads(entries[1].before_json) == boolean_flag()
    assert (await flags.GetFlag(pb.GetFlagRequest(key="new-platform"))).version == 1
    assert (await flags.GetFlag(pb.GetFlagRequest(key="untouched"))).deleted is False


async def test_import_keeps_descriptions_and_revives_deleted_flags(flags: Stub) -> None:
    await flags.PutFlag(put_request("rollout", boolean_flag(), description="10% first"))
    await flags.DeleteFlag(pb.DeleteFlagRequest(key="rollout", actor=ADMIN))

    imported = await flags.ImportFlags(import_request({"flags": {"rollout": boolean_flag()}}))

    (flag,) = imported.flags
    assert (flag.version, flag.deleted, flag.description) == (3, False, "10% first")


async def test_shared_evaluators_are_expanded_so_each_flag_stands_alone(flags: Stub) -> None:
    document = {
        "flags": {"city-only": boolean_flag(targeting={"if": [{"$ref": "city"}, "on", None]})},
        "$evaluators": {"city": {"in": [{"var": "zone"}, ["A", "B"]]}},
    }

    (flag,) = (await flags.ImportFlags(import_request(document))).flags
    exported = json.loads((await flags.ExportFlags(pb.ExportFlagsRequest())).document_json)

    expanded = boolean_flag(targeting={"if": [{"in": [{"var": "zone"}, ["A", "B"]]}, "on", None]})
    assert definition_of(flag) == expanded
    assert exported["flags"] == {"city-only": expanded}
    assert (
        load_document(json.dumps(exported))["city-only"].to_json()
        == load_document(json.dumps(document))["city-only"].to_json()
    )


async def test_an_invalid_document_imports_nothing_and_names_each_problem(flags: Stub) -> None:
    document = {"flags": {"good": boolean_flag(), "bad": boolean_flag(default="maybe"), "Bad Key": boolean_flag()}}

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await flags.ImportFlags(import_request(document))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "document_json.flags.bad.defaultVariant" in (raised.value.details() or "")
    assert list((await flags.ListFlags(pb.ListFlagsRequest())).flags) == []


@pytest.mark.parametrize("text", ["", "[]", "{", '{"flags": 1}', '{"flags": {}, "extra": 1}'])
async def test_a_malformed_document_is_invalid(flags: Stub, text: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await flags.ImportFlags(pb.ImportFlagsRequest(document_json=text, actor=ADMIN))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_fault_flags_import_only_for_sre_and_admin(flags: Stub) -> None:
    document = {"flags": {"fault.order": {"state": "DISABLED", "variants": {"none": {}}, "defaultVariant": "none"}}}

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await flags.ImportFlags(import_request(document, actor=DISPATCHER))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED

    imported = await flags.ImportFlags(import_request(document, actor=SRE))
    assert [flag.key for flag in imported.flags] == ["fault.order"]


async def test_export_leaves_out_deleted_flags(flags: Stub) -> None:
    await flags.PutFlag(put_request("kept"))
    await flags.PutFlag(put_request("gone"))
    await flags.DeleteFlag(pb.DeleteFlagRequest(key="gone", actor=ADMIN))

    exported = json.loads((await flags.ExportFlags(pb.ExportFlagsRequest())).document_json)

    assert list(exported["flags"]) == ["kept"]
