"""Business rules for customers: validation, idempotent create, optimistic concurrency, termination, events."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace

from services.customer.models import outbox
from services.customer.repository import CustomerRepository, search_text
from services.customer.schemas import FIELD_NAMES, CustomerFields, CustomerRecord, SearchFilter, SearchPage
from services.customer.validation import SEGMENTS, validate
from services.platform.clock import utc_now
from services.platform.database import Database
from services.platform.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    VersionConflict,
)
from services.platform.outbox import OutboxWriter
from services.platform.paging import decode_page_token, encode_page_token, page_limit, token_field
from services.platform.proto_values import parse_uuid
from services.platform.zones import load_zones

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_BATCH = 500
MAX_QUERY_LENGTH = 100
MAX_REQUEST_ID_LENGTH = 100
MAX_REASON_LENGTH = 300
CHANGED_EVENT = "customer.changed"
TERMINATION_FIELDS = ("terminated", "termination_reason", "terminated_at")


def parse_id(value: str, field: str = "id") -> uuid.UUID:
    return parse_uuid(value, field, "a customer id")


def fingerprint(fields: CustomerFields) -> str:
    return hashlib.sha256(json.dumps(asdict(fields), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class CustomerService:
    """Customers' use cases; each method is one transaction (or one autocommit read) of its own."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, fields: CustomerFields, request_id: str = "") -> CustomerRecord:
        if len(request_id) > MAX_REQUEST_ID_LENGTH:
            raise InvalidArgument.for_field("request_id", f"at most {MAX_REQUEST_ID_LENGTH} characters")
        clean = validate(fields)
        async with self.database.session() as session:
            return await _create(CustomerRepository(session), OutboxWriter(session, outbox), clean, request_id)

    async def create_missing(self, batch: Sequence[tuple[CustomerFields, str]]) -> int:
        """Create, in one transaction, the customers of ``(fields, request id)`` whose codes are not taken yet;
        returns how many it created (bulk seeding)."""
        async with self.database.session() as session:
            repository = CustomerRepository(session)
            events = OutboxWriter(session, outbox)
            taken = {record.fields.code for record in await repository.get_many([], [f.code for f, _ in batch])}
            created = 0
            for fields, request_id in batch:
                if fields.code not in taken:
                    await _create(repository, events, validate(fields), request_id)
                    created += 1
            return created

    async def get(self, customer_id: str) -> CustomerRecord:
        parsed = parse_id(customer_id)
        async with self.database.read_session() as session:
            return await _existing(CustomerRepository(session), parsed)

    async def get_by_code(self, code: str) -> CustomerRecord:
        async with self.database.read_session() as session:
            record = await CustomerRepository(session).get_by_code(code)
        if record is None:
            raise NotFound(f"customer with code {code} does not exist")
        return record

    async def batch_get(self, ids: list[str], codes: list[str]) -> tuple[list[CustomerRecord], list[str]]:
        if len(ids) + len(codes) > MAX_BATCH:
            raise InvalidArgument.for_field("ids", f"at most {MAX_BATCH} ids and codes together")
        parsed = [parse_id(value, "ids") for value in ids]
        async with self.database.read_session() as session:
            records = await CustomerRepository(session).get_many(parsed, codes)
        found_ids = {str(record.id) for record in records}
        found_codes = {record.fields.code for record in records}
        missing = [value for value in ids if str(uuid.UUID(value)) not in found_ids]
        missing += [code for code in codes if code not in found_codes]
        return records, missing

    async def search(self, search: SearchFilter, page_size: int, page_token: str) -> SearchPage:
        if len(search.query) > MAX_QUERY_LENGTH:
            raise InvalidArgument.for_field("query", f"at most {MAX_QUERY_LENGTH} characters")
        _refuse_unknown("zones", search.zones, load_zones())
        _refuse_unknown("segments", search.segments, SEGMENTS)
        limit = page_limit(page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        query = search.query.strip()
        if query and all(ch.isdigit() or ch in "-() +" for ch in query):
            query = "".join(ch for ch in query if ch.isdigit())  # phones are stored as digits only
        after_code = decode_page_token(page_token, lambda position: token_field(position, "after", str)) or ""
        async with self.database.read_session() as session:
            records = await CustomerRepository(session).search(
                replace(search, query=query), after_code=after_code, limit=limit + 1
            )
        has_more = len(records) > limit
        records = records[:limit]
        return SearchPage(records, encode_page_token({"after": records[-1].fields.code}) if has_more else "")

    async def update(
        self, customer_id: str, expected_version: int, fields: CustomerFields, mask: Iterable[str]
    ) -> CustomerRecord:
        paths = list(mask)
        unknown = [path for path in paths if path not in FIELD_NAMES]
        if unknown:
            raise InvalidArgument.from_violations(
                [FieldViolation("update_mask", f"{path!r} is not a customer field") for path in unknown]
            )
        if not paths:
            raise InvalidArgument.for_field("update_mask", "names no field to change")
        parsed = parse_id(customer_id)
        async with self.database.session() as session:
            repository = CustomerRepository(session)
            current = await _existing(repository, parsed)
            if current.terminated:
                raise FailedPrecondition(f"customer {customer_id} is terminated and cannot be changed")
            merged = validate(replace(current.fields, **{path: getattr(fields, path) for path in paths}))
            changes = {path: getattr(merged, path) for path in paths}
            changes["search_text"] = search_text(merged)
            if merged.code != current.fields.code and await repository.get_by_code(merged.code) is not None:
                raise AlreadyExists(f"customer code {merged.code} is taken", [FieldViolation("code", "already in use")])
            updated = await repository.update_if_version(current.id, expected_version, changes)
            if updated is None:
                latest = await _existing(repository, parsed)
                raise VersionConflict(
                    f"customer {customer_id} is at version {latest.version}, not {expected_version}; "
                    "read it again and reapply the change",
                    [FieldViolation("expected_version", f"stale: current version is {latest.version}")],
                )
            changed = (path for path in paths if getattr(merged, path) != getattr(current.fields, path))
            await _changed(OutboxWriter(session, outbox), updated, changed)
            return updated

    async def terminate(self, customer_id: str, reason: str) -> CustomerRecord:
        if len(reason) > MAX_REASON_LENGTH:
            raise InvalidArgument.for_field("reason", f"at most {MAX_REASON_LENGTH} characters")
        parsed = parse_id(customer_id)
        async with self.database.session() as session:
            repository = CustomerRepository(session)
            current = await _existing(repository, parsed)
            if current.terminated:
                return current
            updated = await repository.update_if_version(
                current.id,
                current.version,
                {"terminated": True, "termination_reason": reason.strip(), "terminated_at": utc_now()},
            )
            if updated is None:  # changed between our read and write: the caller may simply retry
                raise VersionConflict(f"customer {customer_id} changed while terminating; retry")
            await _changed(OutboxWriter(session, outbox), updated, TERMINATION_FIELDS)
            return updated


async def _create(
    repository: CustomerRepository, events: OutboxWriter, clean: CustomerFields, request_id: str
) -> CustomerRecord:
    """Store validated fields, unless ``request_id`` made a customer already (then that one, if the body matches)."""
    digest = fingerprint(clean)
    if request_id:
        await repository.lock_request_id(request_id)
        earlier = await repository.get_by_request_id(request_id)
        if earlier is not None:
            record, earlier_digest = earlier
            if earlier_digest != digest:
                raise AlreadyExists(
                    "this idempotency key was used for a different customer",
                    [FieldViolation("request_id", "reused with a different request body")],
                )
            return record
    if await repository.get_by_code(clean.code) is not None:
        raise AlreadyExists(f"customer code {clean.code} is taken", [FieldViolation("code", "already in use")])
    created = await repository.add(clean, request_id=request_id or None, fingerprint=digest)
    await _changed(events, created, FIELD_NAMES)
    return created


async def _existing(repository: CustomerRepository, customer_id: uuid.UUID) -> CustomerRecord:
    record = await repository.get(customer_id)
    if record is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return record


async def _changed(events: OutboxWriter, record: CustomerRecord, changed: Iterable[str]) -> None:
    """customer.changed, recorded in the transaction of the change."""
    await events.record(
        aggregate="customer",
        type=CHANGED_EVENT,
        aggregate_id=str(record.id),
        aggregate_version=record.version,
        payload={
            "id": str(record.id),
            "code": record.fields.code,
            "version": record.version,
            "changed": sorted(set(changed)),
            "terminated": record.terminated,
        },
    )


def _refuse_unknown(name: str, values: Iterable[str], known: Iterable[str]) -> None:
    allowed = set(known)
    bad = [value for value in values if value not in allowed]
    if bad:
        raise InvalidArgument.for_field(name, f"unknown: {', '.join(bad)}")
