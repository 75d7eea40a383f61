"""SQL for customers. Repositories flush, never commit: the session scope owns the transaction."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.customer.models import Customer
from services.customer.schemas import CustomerFields, CustomerRecord, SearchFilter
from services.platform.errors import AlreadyExists, FieldViolation


def search_text(fields: CustomerFields) -> str:
    parts = [fields.code, fields.short_name, fields.invoice_title, fields.address, *fields.phones]
    return " ".join(part for part in parts if part).lower()


# What a read returns: every column but the search text and the idempotency bookkeeping. Reads select
# these as plain rows (no ORM identity map): the hot path of the platform is GetCustomer.
RECORD_COLUMNS = [
    column
    for column in Customer.__table__.c
    if column.name not in {"search_text", "create_request_id", "create_fingerprint"}
]


def to_record(row: Any) -> CustomerRecord:
    """From an ORM object or a row of RECORD_COLUMNS (both expose columns as attributes)."""
    values = {name: getattr(row, name) for name in CustomerFields.__dataclass_fields__}
    values["phones"] = list(values["phones"])
    values["hourly_windows"] = list(values["hourly_windows"])
    values["cylinders"] = dict(values["cylinders"])
    return CustomerRecord(
        id=row.id,
        fields=CustomerFields(**values),
        terminated=row.terminated,
        termination_reason=row.termination_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        terminated_at=row.terminated_at,
        version=row.version,
    )


def _translate_integrity_error(error: IntegrityError) -> Exception:
    constraint = getattr(error.orig, "constraint_name", None) or getattr(
        getattr(error.orig, "__cause__", None), "constraint_name", ""
    )
    if constraint == "uq_customers_code":
        return AlreadyExists("a customer with this code exists", [FieldViolation("code", "already in use")])
    return error


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, fields: CustomerFields, *, request_id: str | None, fingerprint: str | None) -> CustomerRecord:
        row = Customer(
            **asdict(fields),
            search_text=search_text(fields),
            create_request_id=request_id,
            create_fingerprint=fingerprint,
            version=1,
        )
        self.session.add(row)
        try:
            await self.session.flush()
        except IntegrityError as error:
            raise _translate_integrity_error(error) from error
        await self.session.refresh(row)
        return to_record(row)

    async def get(self, customer_id: uuid.UUID) -> CustomerRecord | None:
        row = (await self.session.execute(select(*RECORD_COLUMNS).where(Customer.id == customer_id))).first()
        return None if row is None else to_record(row)

    async def get_by_code(self, code: str) -> CustomerRecord | None:
        row = (await self.session.execute(select(*RECORD_COLUMNS).where(Customer.code == code))).first()
        return None if row is None else to_record(row)

    async def get_by_request_id(self, request_id: str) -> tuple[CustomerRecord, str | None] | None:
        row = await self.session.scalar(select(Customer).where(Customer.create_request_id == request_id))
        return None if row is None else (to_record(row), row.create_fingerprint)

    async def lock_request_id(self, request_id: str) -> None:
        """Serialise concurrent creates that carry the same idempotency key (held until commit)."""
        await self.session.execute(select(func.pg_advisory_xact_lock(func.hashtext("customer-create:" + request_id))))

    async def get_many(self, ids: list[uuid.UUID], codes: list[str]) -> list[CustomerRecord]:
        rows = await self.session.execute(
            select(*RECORD_COLUMNS).where(Customer.id.in_(ids) | Customer.code.in_(codes)).order_by(Customer.code)
        )
        return [to_record(row) for row in rows]

    async def search(self, search: SearchFilter, *, after_code: str, limit: int) -> list[CustomerRecord]:
        statement: Select[Any] = select(*RECORD_COLUMNS)
        if search.query:
            pattern = "%" + search.query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            statement = statement.where(Customer.search_text.like(pattern, escape="\\"))
        if search.zones:
            statement = statement.where(Customer.zone.in_(search.zones))
        if search.segments:
            statement = statement.where(Customer.segment.in_(search.segments))
        if search.terminated is not None:
            statement = statement.where(Customer.terminated.is_(search.terminated))
        if after_code:
            statement = statement.where(Customer.code > after_code)
        rows = await self.session.execute(statement.order_by(Customer.code).limit(limit))
        return [to_record(row) for row in rows]

    async def in_code_range(self, low: str, high: str | None, *, limit: int | None = None) -> list[CustomerRecord]:
        """Customers with ``low <= code < high`` (no upper bound when ``high`` is None), by code."""
        statement = select(*RECORD_COLUMNS).where(Customer.code >= low)
        if high is not None:
            statement = statement.where(Customer.code < high)
        rows = await self.session.execute(statement.order_by(Customer.code).limit(limit))
        return [to_record(row) for row in rows]

    async def update_if_version(
        self, customer_id: uuid.UUID, expected_version: int, changes: dict[str, Any]
    ) -> CustomerRecord | None:
        """Apply ``changes`` only if the row is still at ``expected_version``; None when it is not."""
        statement = (
            update(Customer)
            .where(Customer.id == customer_id, Customer.version == expected_version)
            .values(**changes, version=Customer.version + 1, updated_at=func.now())
            .returning(Customer)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        try:
            row = await self.session.scalar(statement)
        except IntegrityError as error:
            raise _translate_integrity_error(error) from error
        return None if row is None else to_record(row)
