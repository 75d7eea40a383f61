"""Business rules for flags: keys, permissions, optimistic concurrency, versions, audit, events, fan-out.

Every change runs in one transaction that also writes the version, the audit row and the flag.changed event;
after it commits, the changed flags go to ``on_change`` (the in-memory copy and Redis pub/sub).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from services.flags.models import OUTBOX
from services.flags.repository import FlagRepository
from services.flags.schemas import Actor, AuditPage, ChangeSet, CohortChange, FlagRecord, PilotChange, PilotRecord
from services.flags.transfer import dump_flags, load_flags
from services.flags.validation import (
    MAX_COHORT,
    MAX_DESCRIPTION,
    MAX_REASON,
    check_actor,
    check_definition,
    check_key,
    check_permission,
    check_pilot_change,
    check_text,
    parse_definition_json,
)
from services.platform.database import Database
from services.platform.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, VersionConflict
from services.platform.flags.documents import PilotState, pilot_flag, read_pilot
from services.platform.outbox import record_event
from services.platform.paging import decode_page_token, encode_page_token, page_limit, token_field

DEFAULT_AUDIT_PAGE = 50
MAX_AUDIT_PAGE = 500
CHANGED_EVENT = "flag.changed"

CHANGES = Counter("luckygas_flags_changes_total", "Committed flag changes, by audit action.", ["action"])

OnChange = Callable[[ChangeSet], Awaitable[None]]


async def _ignore(changes: ChangeSet) -> None:
    return None


def _read_position(document: Any) -> int:
    return token_field(document, "before", int)


@dataclass(frozen=True)
class _Write:
    """One flag's new state, as a write decides it."""

    definition: dict[str, Any]
    description: str
    deleted: bool
    action: str


class _Transaction:
    """A write transaction: the repository, and the changes it has made so far (for fan-out after commit)."""

    def __init__(self, repository: FlagRepository, actor: Actor, reason: str) -> None:
        self.repository = repository
        self.actor = actor
        self.reason = reason
        self.changed: list[FlagRecord] = []
        self.revision = 0
        self.actions: list[str] = []

    async def existing(self, key: str) -> FlagRecord:
        """Take the write lock and read ``key``, which must exist (deleted or not)."""
        await self.repository.lock_writes()
        current = await self.repository.get(key)
        if current is None:
            raise NotFound(f"flag {key} does not exist")
        return current

    async def write(self, current: FlagRecord, change: _Write) -> FlagRecord:
        """The next version of an existing flag, with its history row, audit row and flag.changed event."""
        saved = await self.repository.save(
            current.key,
            definition=change.definition,
            description=change.description,
            deleted=change.deleted,
            version=current.version + 1,
            actor=self.actor.username,
            previous_version=current.version,
        )
        if saved is None:  # only possible for a writer that skipped the lock
            raise VersionConflict(f"flag {current.key} changed concurrently; retry")
        return await self._recorded(saved, None if current.deleted else current, change.action)

    async def create(self, key: str, change: _Write) -> FlagRecord:
        saved = await self.repository.save(
            key,
            definition=change.definition,
            description=change.description,
            deleted=False,
            version=1,
            actor=self.actor.username,
            previous_version=None,
        )
        assert saved is not None
        return await self._recorded(saved, None, change.action)

    async def _recorded(self, saved: FlagRecord, before: FlagRecord | None, action: str) -> FlagRecord:
        audit = await self.repository.append_audit(
            flag_key=saved.key,
            flag_version=saved.version,
            action=action,
            actor=self.actor.username,
            actor_role=self.actor.role,
            reason=self.reason,
            before=None if before is None else before.definition,
            after=None if saved.deleted else saved.definition,
        )
        await record_event(
            self.repository.session,
            OUTBOX,
            aggregate="flag",
            type=CHANGED_EVENT,
            aggregate_id=saved.key,
            aggregate_version=saved.version,
            payload={
                "key": saved.key,
                "version": saved.version,
                "action": action,
                "deleted": saved.deleted,
                "enabled": saved.enabled,
                "actor": self.actor.username,
                "actor_role": self.actor.role,
                "revision": audit.sequence,
            },
        )
        self.changed.append(saved)
        self.actions.append(action)
        self.revision = audit.sequence
        return saved


class FlagService:
    def __init__(self, database: Database, on_change: OnChange = _ignore) -> None:
        """``on_change`` gets every committed change set (the in-memory copy, Redis pub/sub)."""
        self.database = database
        self.on_change = on_change

    async def _committed(self, transaction: _Transaction) -> None:
        for action in transaction.actions:
            CHANGES.labels(action).inc()
        if transaction.changed:
            await self.on_change(ChangeSet(transaction.revision, transaction.changed))

    # Reads -------------------------------------------------------------------------------------------------

    async def get(self, key: str) -> FlagRecord:
        check_key(key)
        async with self.database.read_session() as session:
            record = await FlagRepository(session).get(key)
        if record is None:
            raise NotFound(f"flag {key} does not exist")
        return record

    async def snapshot(self, *, include_deleted: bool = False) -> ChangeSet:
        """Every flag (deleted ones too if asked), and the revision they are at."""
        async with self.database.session() as session:
            repository = FlagRepository(session)
            # Revision first: a change committing in between only makes the flags newer than it says.
            revision = await repository.revision()
            flags = await repository.list_flags(include_deleted=include_deleted)
        return ChangeSet(revision, flags, full=True)

    async def revision(self) -> int:
        async with self.database.read_session() as session:
            return await FlagRepository(session).revision()

    async def list_audit(self, flag_key: str, page_size: int, page_token: str) -> AuditPage:
        if flag_key:
            check_key(flag_key, "flag_key")
        limit = page_limit(page_size, DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE)
        before = decode_page_token(page_token, _read_position)
        async with self.database.read_session() as session:
            entries = await FlagRepository(session).list_audit(flag_key, before_sequence=before, limit=limit + 1)
        has_more = len(entries) > limit
        entries = entries[:limit]
        return AuditPage(entries, encode_page_token({"before": entries[-1].sequence}) if has_more else "")

    # Writes ------------------------------------------------------------------------------------------------

    def _check_write(self, key: str, actor: Actor, reason: str) -> None:
        check_key(key)
        check_actor(actor)
        check_text(reason, "reason", MAX_REASON)
        check_permission(key, actor)

    async def put(
        self, key: str, definition_json: str, description: str, expected_version: int, actor: Actor, reason: str
    ) -> FlagRecord:
        """Create (``expected_version`` 0; also brings back a deleted key) or change a flag."""
        self._check_write(key, actor, reason)
        check_text(description, "description", MAX_DESCRIPTION)
        if expected_version < 0:
            raise InvalidArgument.for_field("expected_version", "must not be negative (0 creates)")
        definition = check_definition(key, parse_definition_json(definition_json))
        async with self.database.session() as session:
            transaction = _Transaction(FlagRepository(session), actor, reason.strip())
            await transaction.repository.lock_writes()
            current = await transaction.repository.get(key)
            live = current is not None and not current.deleted
            if expected_version == 0:
                if live:
                    assert current is not None
                    raise _conflict(current, expected_version, "exists")
            elif current is None:
                raise NotFound(f"flag {key} does not exist; expected_version 0 creates it")
            elif current.version != expected_version:
                raise _conflict(current, expected_version, "is at")
            if current is not None and live and (current.definition, current.description) == (definition, description):
                return current  # nothing to change: no new version, no audit row
            change = _Write(definition, description, deleted=False, action="change" if live else "create")
            if current is None:
                record = await transaction.create(key, change)
            else:
                record = await transaction.write(current, change)
        await self._committed(transaction)
        return record

    async def kill(self, key: str, actor: Actor, reason: str) -> FlagRecord:
        """State DISABLED: evaluation answers the caller's code default. Killing a killed flag changes nothing."""
        self._check_write(key, actor, reason)
        async with self.database.session() as session:
            transaction = _Transaction(FlagRepository(session), actor, reason.strip())
            current = await transaction.existing(key)
            if current.deleted or not current.enabled:
                return current  # already off everywhere: evaluation of a deleted flag is FLAG_NOT_FOUND
            killed = {**current.definition, "state": "DISABLED"}
            record = await transaction.write(current, _Write(killed, current.description, False, "kill"))
        await self._committed(transaction)
        return record

    async def restore(self, key: str, version: int, actor: Actor, reason: str) -> FlagRecord:
        """Make ``version``'s definition (and description) current again, as a new version."""
        self._check_write(key, actor, reason)
        if version < 1:
            raise InvalidArgument.for_field("version", "must be a version of the flag (1 or more)")
        async with self.database.session() as session:
            transaction = _Transaction(FlagRepository(session), actor, reason.strip())
            current = await transaction.existing(key)
            earlier = await transaction.repository.get_version(key, version)
            if earlier is None:
                raise NotFound(f"flag {key} has no version {version} (it is at version {current.version})")
            # Valid when it was written; the engine may have become stricter since.
            definition = check_definition(key, earlier.definition, field=f"version {version}")
            if not current.deleted and (current.definition, current.description) == (
                definition,
                earlier.description,
            ):
                return current
            record = await transaction.write(current, _Write(definition, earlier.description, False, "restore"))
        await self._committed(transaction)
        return record

    async def delete(self, key: str, expected_version: int, actor: Actor, reason: str) -> FlagRecord:
        """Soft delete: the flag stops evaluating (FLAG_NOT_FOUND), its history stays and can be restored.

        ``expected_version`` 0 deletes whatever version is current.
        """
        self._check_write(key, actor, reason)
        if expected_version < 0:
            raise InvalidArgument.for_field("expected_version", "must not be negative (0: any version)")
        async with self.database.session() as session:
            transaction = _Transaction(FlagRepository(session), actor, reason.strip())
            current = await transaction.existing(key)
            if expected_version and current.version != expected_version:
                raise _conflict(current, expected_version, "is at")
            if current.deleted:
                return current
            record = await transaction.write(
                current, _Write(current.definition, current.description, deleted=True, action="delete")
            )
        await self._committed(transaction)
        return record

    async def set_pilot(
        self, key: str, change: PilotChange, expected_version: int, actor: Actor, reason: str
    ) -> PilotRecord:
        """A pilot's cohort and percentage, changed under the write lock from the flag as it is (or created).

        ``expected_version`` 0 changes whatever version is current. A deleted flag comes back with the change.
        """
        self._check_write(key, actor, reason)
        check_pilot_change(change, expected_version)
        async with self.database.session() as session:
            transaction = _Transaction(FlagRepository(session), actor, reason.strip())
            await transaction.repository.lock_writes()
            current = await transaction.repository.get(key)
            if expected_version and current is None:
                raise NotFound(f"flag {key} does not exist; expected_version 0 creates it")
            if expected_version and current is not None and current.version != expected_version:
                raise _conflict(current, expected_version, "is at")
            definition = {} if current is None else current.definition
            state = read_pilot(definition)
            if state is None:
                raise FailedPrecondition(f"flag {key} has targeting that is not a pilot's (a cohort and a percentage)")
            codes, percent = _pilot_after(state, change)
            enabled = definition.get("state", "ENABLED") == "ENABLED"
            rewritten = check_definition(
                key, pilot_flag(codes, percent, enabled=enabled, metadata=definition.get("metadata"))
            )
            live = current is not None and not current.deleted
            if current is not None and live and current.definition == rewritten:
                return PilotRecord(codes, percent, current)  # nothing to change: no new version, no audit row
            description = "" if current is None else current.description
            write = _Write(rewritten, description, deleted=False, action="change" if live else "create")
            if current is None:
                record = await transaction.create(key, write)
            else:
                record = await transaction.write(current, write)
        await self._committed(transaction)
        return PilotRecord(codes, percent, record)

    async def import_flags(self, definitions: dict[str, dict[str, Any]], actor: Actor, reason: str) -> list[FlagRecord]:
        """Create or change each flag whose definition differs from the stored one (one audit row each).

        Flags stored but absent from the document are left alone: an import adds and changes, never deletes.
        All or nothing: one refused flag refuses the import.
        """
        check_actor(actor)
        check_text(reason, "reason", MAX_REASON)
        for key in definitions:
            check_key(key, f"document_json.flags.{key}")
            check_permission(key, actor)
        validated = {
            key: check_definition(key, definition, field=f"document_json.flags.{key}")
            for key, definition in definitions.items()
        }
        async with self.database.session() as session:
            transaction = _Transaction(FlagRepository(session), actor, reason.strip())
            await transaction.repository.lock_writes()
            stored = await transaction.repository.get_many(sorted(validated))
            for key in sorted(validated):
                current = stored.get(key)
                definition = validated[key]
                if current is None:
                    await transaction.create(key, _Write(definition, "", False, "import"))
                elif current.deleted or current.definition != definition:
                    await transaction.write(current, _Write(definition, current.description, False, "import"))
        await self._committed(transaction)
        return transaction.changed

    async def import_document(self, document_json: str, actor: Actor, reason: str) -> list[FlagRecord]:
        """A flagd flag-definition document: each flag in it created or changed if it differs."""
        check_actor(actor)
        return await self.import_flags(load_flags(document_json), actor, reason)

    async def export_document(self) -> str:
        """Every flag that is not deleted, as a flagd flag-definition document."""
        async with self.database.read_session() as session:
            return dump_flags(await FlagRepository(session).list_flags())


def _pilot_after(state: PilotState, change: PilotChange) -> tuple[tuple[str, ...], float]:
    """The cohort (sorted, each code once) and the percentage once ``change`` is applied to ``state``."""
    if change.cohort == CohortChange.REPLACE:
        wanted: tuple[str, ...] = change.customer_codes
    elif change.cohort == CohortChange.ADD:
        wanted = (*state.customer_codes, *change.customer_codes)
    else:
        wanted = state.customer_codes
    codes = tuple(sorted(set(wanted)))
    if len(codes) > MAX_COHORT:
        raise InvalidArgument.for_field("customer_codes", f"a cohort has at most {MAX_COHORT} customers")
    return codes, state.percent if change.percent is None else change.percent


def _conflict(current: FlagRecord, expected_version: int, verb: str) -> VersionConflict:
    state = " (deleted)" if current.deleted else ""
    return VersionConflict(
        f"flag {current.key} {verb} version {current.version}{state}, not {expected_version}; "
        "read it again and reapply the change",
        [FieldViolation("expected_version", f"stale: current version is {current.version}")],
    )
