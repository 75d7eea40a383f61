"""The audit log: one entry per change with who, why, before and after; append-only down to the database."""

from __future__ import annotations

import json

import grpc
import pytest
from luckygas.flags.v1 import flags_pb2 as pb
from luckygas.flags.v1 import flags_pb2_grpc
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.flags.models import OUTBOX
from services.platform.database import Database
from tests.flags.factories import ADMIN, SRE, boolean_flag, put_request

Stub = flags_pb2_grpc.FlagServiceStub


async def test_every_change_is_audited_with_actor_reason_before_and_after(flags: Stub) -> None:
    await flags.PutFlag(put_request("pilot", boolean_flag(), reason="pilot starts"))
    await flags.PutFlag(put_request("pilot", boolean_flag(default="on"), expected_version=1, actor=SRE))
    await flags.KillFlag(pb.KillFlagRequest(key="pilot", actor=ADMIN, reason="incident 42"))
    await flags.RestoreFlag(pb.RestoreFlagRequest(key="pilot", version=2, actor=ADMIN, reason="fixed"))
    await flags.DeleteFlag(pb.DeleteFlagRequest(key="pilot", actor=SRE, reason="done"))

    entries = list((await flags.ListAudit(pb.ListAuditRequest(flag_key="pilot"))).entries)[::-1]

    assert [(e.action, e.flag_version, e.actor, e.actor_role) for e in entries] == [
        ("create", 1, "alice", "admin"),
        ("change", 2, "sam", "sre"),
        ("kill", 3, "alice", "admin"),
        ("restore", 4, "alice", "admin"),
        ("delete", 5, "sam", "sre"),
    ]
    assert [e.reason for e in entries] == ["pilot starts", "", "incident 42", "fixed", "done"]
    states = [
        (json.loads(e.before_json) if e.before_json else None, json.loads(e.after_json) if e.after_json else None)
        for e in entries
    ]
    off, on, killed = boolean_flag(), boolean_flag(default="on"), boolean_flag(default="on", state="DISABLED")
    assert states == [(None, off), (off, on), (on, killed), (killed, on), (on, None)]
    sequences = [e.sequence for e in entries]
    assert sequences == sorted(sequences)
    assert all(e.at.seconds > 0 for e in entries)


async def test_audit_pages_newest_first_across_flags(flags: Stub) -> None:
    for number in range(7):
        await flags.PutFlag(put_request(f"flag-{number}"))

    first = await flags.ListAudit(pb.ListAuditRequest(page_size=3))
    second = await flags.ListAudit(pb.ListAuditRequest(page_size=3, page_token=first.next_page_token))
    third = await flags.ListAudit(pb.ListAuditRequest(page_size=3, page_token=second.next_page_token))

    keys = [entry.flag_key for page in (first, second, third) for entry in page.entries]
    assert keys == [f"flag-{number}" for number in range(6, -1, -1)]
    assert third.next_page_token == ""


async def test_a_forged_page_token_is_invalid(flags: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await flags.ListAudit(pb.ListAuditRequest(page_token="not-a-token"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_audit_rows_cannot_be_changed_or_deleted(flags: Stub, flags_database: Database) -> None:
    await flags.PutFlag(put_request("evidence"))

    for statement in (
        "UPDATE flags.audit SET actor = 'mallory'",
        "DELETE FROM flags.audit",
        "UPDATE flags.flag_versions SET definition = '{}'",
        "DELETE FROM flags.flag_versions",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with flags_database.session() as session:
                await session.execute(text(statement))

    async with flags_database.session() as session:
        actors = (await session.execute(text("SELECT actor FROM flags.audit"))).scalars().all()
    assert actors == ["alice"]


async def test_each_change_records_a_flag_changed_event_in_its_transaction(
    flags: Stub, flags_database: Database
) -> None:
    await flags.PutFlag(put_request("pilot"))
    await flags.KillFlag(pb.KillFlagRequest(key="pilot", actor=ADMIN))
    await flags.KillFlag(pb.KillFlagRequest(key="pilot", actor=ADMIN))  # no change: no event

    async with flags_database.session() as session:
        rows = (await session.execute(OUTBOX.select().order_by(OUTBOX.c.position))).all()
    assert [(row.type, row.stream, row.aggregate_id, row.aggregate_version) for row in rows] == [
        ("flag.changed", "events.flag", "pilot", 1),
        ("flag.changed", "events.flag", "pilot", 2),
    ]
    assert rows[1].payload | {"revision": 0} == {
        "key": "pilot",
        "version": 2,
        "action": "kill",
        "deleted": False,
        "enabled": False,
        "actor": "alice",
        "actor_role": "admin",
        "revision": 0,
    }


async def test_a_refused_change_leaves_no_audit_row(flags: Stub) -> None:
    await flags.PutFlag(put_request("pilot"))
    with pytest.raises(grpc.aio.AioRpcError):
        await flags.PutFlag(put_request("pilot", boolean_flag(default="on"), expected_version=9))
    entries = (await flags.ListAudit(pb.ListAuditRequest(flag_key="pilot"))).entries
    assert [entry.action for entry in entries] == ["create"]
