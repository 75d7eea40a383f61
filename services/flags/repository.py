"""SQL for flags, their versions and the audit log. Repositories flush, never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.flags.models import AuditRow, FlagRow, FlagVersionRow
from services.flags.schemas import AuditRecord, FlagRecord, FlagVersion

FLAG_COLUMNS = [FlagRow.key, FlagRow.definition, FlagRow.description, FlagRow.version, FlagRow.deleted]
FLAG_COLUMNS += [FlagRow.updated_at, FlagRow.updated_by]
AUDIT_COLUMNS = [column for column in AuditRow.__table__.c]


def to_flag(row: Any) -> FlagRecord:
    return FlagRecord(
        key=row.key,
        definition=dict(row.definition),
        description=row.description,
        version=row.version,
        deleted=row.deleted,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def to_audit(row: Any) -> AuditRecord:
    return AuditRecord(
        sequence=row.sequence,
        flag_key=row.flag_key,
        flag_version=row.flag_version,
        action=row.action,
        actor=row.actor,
        actor_role=row.actor_role,
        reason=row.reason,
        before=row.before,
        after=row.after,
        at=row.at,
    )


class FlagRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_writes(self) -> None:
        """One writer at a time, until commit: audit sequences then follow commit order, so a revision r
        means every change up to r and no other. Flag changes are rare; the wait is never felt."""
        await self.session.execute(select(func.pg_advisory_xact_lock(func.hashtext("flags.write"))))

    async def get(self, key: str) -> FlagRecord | None:
        row = (await self.session.execute(select(*FLAG_COLUMNS).where(FlagRow.key == key))).first()
        return None if row is None else to_flag(row)

    async def get_many(self, keys: list[str]) -> dict[str, FlagRecord]:
        rows = await self.session.execute(select(*FLAG_COLUMNS).where(FlagRow.key.in_(keys)))
        return {row.key: to_flag(row) for row in rows}

    async def list_flags(self, *, include_deleted: bool = False) -> list[FlagRecord]:
        statement = select(*FLAG_COLUMNS).order_by(FlagRow.key)
        if not include_deleted:
            statement = statement.where(FlagRow.deleted.is_(False))
        return [to_flag(row) for row in await self.session.execute(statement)]

    async def save(
        self,
        key: str,
        *,
        definition: dict[str, Any],
        description: str,
        deleted: bool,
        version: int,
        actor: str,
        previous_version: int | None,
    ) -> FlagRecord | None:
        """Write ``version`` of ``key`` and keep it in the version history.

        ``previous_version`` None inserts the flag; otherwise the row changes only if it is still at that
        version, and None is returned when it is not.
        """
        values = {"definition": definition, "description": description, "deleted": deleted, "version": version}
        if previous_version is None:
            statement: Any = insert(FlagRow).values(key=key, updated_by=actor, **values)
        else:
            statement = (
                update(FlagRow)
                .where(FlagRow.key == key, FlagRow.version == previous_version)
                .values(updated_by=actor, updated_at=func.now(), **values)
            )
        row = (await self.session.execute(statement.returning(*FLAG_COLUMNS))).first()
        if row is None:
            return None
        await self.session.execute(
            insert(FlagVersionRow).values(
                key=key,
                version=version,
                definition=definition,
                description=description,
                deleted=deleted,
                created_by=actor,
            )
        )
        return to_flag(row)

    async def get_version(self, key: str, version: int) -> FlagVersion | None:
        row = (
            await self.session.execute(
                select(
                    FlagVersionRow.key,
                    FlagVersionRow.version,
                    FlagVersionRow.definition,
                    FlagVersionRow.description,
                    FlagVersionRow.deleted,
                ).where(FlagVersionRow.key == key, FlagVersionRow.version == version)
            )
        ).first()
        if row is None:
            return None
        return FlagVersion(row.key, row.version, dict(row.definition), row.description, row.deleted)

    async def append_audit(
        self,
        *,
        flag_key: str,
        flag_version: int,
        action: str,
        actor: str,
        actor_role: str,
        reason: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> AuditRecord:
        row = (
            await self.session.execute(
                insert(AuditRow)
                .values(
                    flag_key=flag_key,
                    flag_version=flag_version,
                    action=action,
                    actor=actor,
                    actor_role=actor_role,
                    reason=reason,
                    before=before,
                    after=after,
                )
                .returning(*AUDIT_COLUMNS)
            )
        ).one()
        return to_audit(row)

    async def list_audit(self, flag_key: str, *, before_sequence: int | None, limit: int) -> list[AuditRecord]:
        """Newest first."""
        statement = select(*AUDIT_COLUMNS).order_by(AuditRow.sequence.desc()).limit(limit)
        if flag_key:
            statement = statement.where(AuditRow.flag_key == flag_key)
        if before_sequence is not None:
            statement = statement.where(AuditRow.sequence < before_sequence)
        return [to_audit(row) for row in await self.session.execute(statement)]

    async def revision(self) -> int:
        """The highest audit sequence: every committed change up to it is in the flags table."""
        return int(await self.session.scalar(select(func.coalesce(func.max(AuditRow.sequence), 0))) or 0)
