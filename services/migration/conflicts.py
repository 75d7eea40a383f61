"""Recording what sync could not apply: conflicts (a change on the non-primary side, kept with both values field by
field until a person resolves it) and rows the mapping or the platform refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, text
from sqlalchemy.dialects.postgresql import insert

from services.migration.mapping import Rejected, RejectedRow
from services.migration.metrics import CONFLICTS_RECORDED
from services.migration.models import ConflictRow, RejectionRow
from services.platform.database import Database
from services.platform.errors import InvalidArgument


async def record(
    database: Database,
    *,
    table: str,
    key: str,
    customer_code: str,
    primary: str,
    fields: list[dict[str, str]],
    other_text: str,
) -> None:
    """Open a conflict for the row, or bring the open one up to date with the latest values: never dropped, never
    two open for one row."""
    statement = insert(ConflictRow).values(
        table_name=table,
        key=key,
        customer_code=customer_code,
        primary_side=primary,
        fields=fields,
        other_text=other_text,
        state="open",
    )
    statement = statement.on_conflict_do_update(
        index_elements=[ConflictRow.table_name, ConflictRow.key],
        index_where=text("state = 'open'"),
        set_={"fields": statement.excluded.fields, "other_text": statement.excluded.other_text},
    )
    async with database.session() as session:
        await session.execute(statement)
    CONFLICTS_RECORDED.labels(table).inc()


def problems_of(rejected: RejectedRow) -> list[dict[str, Any]]:
    """A rejected row's problems as stored (column, value as written, reason)."""
    return [
        {
            "column": problem.column,
            "value": "" if problem.value is None else str(problem.value),
            "reason": problem.reason,
        }
        for problem in rejected.problems
    ]


async def record_rejection(table: str, rejected: RejectedRow, database: Database) -> None:
    """A changed legacy row the mapping refuses: listed with the backfill's rejections, replacing an older entry."""
    statement = insert(RejectionRow).values(
        table_name=table, dry_run=False, key=rejected.key or "?", problems=problems_of(rejected)
    )
    async with database.session() as session:
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[RejectionRow.table_name, RejectionRow.dry_run, RejectionRow.key],
                set_={"problems": statement.excluded.problems, "recorded_at": func.now()},
            )
        )


async def clear_rejections(table: str, keys: Sequence[str], database: Database) -> None:
    """Rows that were refused once and have now been applied (the office corrected them) are no longer rejected."""
    if keys:
        async with database.session() as session:
            await session.execute(
                delete(RejectionRow).where(
                    RejectionRow.table_name == table, RejectionRow.dry_run.is_(False), RejectionRow.key.in_(keys)
                )
            )


def refused_by_service(key: str, error: InvalidArgument) -> RejectedRow:
    """A row the mapping accepted but the owning service refused, as a rejection naming its fields."""
    problems = tuple(Rejected(violation.field, "", violation.reason) for violation in error.violations)
    return RejectedRow(key, problems or (Rejected("*", "", error.message),))


async def record_service_refusal(table: str, key: str, error: InvalidArgument, database: Database) -> None:
    await record_rejection(table, refused_by_service(key, error), database)
