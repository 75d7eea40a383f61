"""Recording the visit: a delivery with proof (in_delivery → delivered) or a failure at the door (→ failed).

An order still only assigned is set off first, in the same transaction: in_delivery with its
``order.delivery_started`` event, then the visit, exactly as TransitionOrder followed by the visit would record it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.order.lifecycle import OrderStatus, is_move
from services.order.refills import RefillRepository
from services.order.repository import DeliveryOutcome, OrderRepository
from services.order.schemas import DeliveryProof, OrderRecord
from services.order.service import (
    TRANSITION_EVENTS,
    UPDATE_ATTEMPTS,
    check_actor,
    check_request_id,
    fingerprint,
    record_order_event,
)
from services.order.validation import FAILURE_REASONS, MAX_NOTES, validate_proof
from services.platform.clock import Clock, taipei_date, utc_now
from services.platform.database import Database
from services.platform.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    VersionConflict,
)
from services.platform.products import PRODUCTS
from services.platform.proto_values import parse_uuid


def proof_fingerprint(proof: DeliveryProof) -> str:
    """Digest of the proof as sent (images by their hash), so a retried request is recognised."""
    document: dict[str, Any] = asdict(proof)
    document["signature_png"] = hashlib.sha256(proof.signature_png).hexdigest()
    document["photo"] = hashlib.sha256(proof.photo).hexdigest()
    return fingerprint(document)


def delivered_kg(proof: DeliveryProof) -> float:
    return float(sum(PRODUCTS[item.product].size_kg * item.quantity for item in proof.delivered))


class DeliveryService:
    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self.clock = clock

    async def complete(self, order_id: str, proof: DeliveryProof, request_id: str, actor: str = "") -> OrderRecord:
        """Record the delivery with its proof. The same request_id again is a no-op returning the order."""
        parsed = parse_uuid(order_id, "id", "an order id")
        check_request_id(request_id)
        check_actor(actor)
        digest = proof_fingerprint(proof)
        clean = validate_proof(proof, self.clock())
        assert clean.delivered_at is not None
        async with self.database.session() as session:
            repository = OrderRepository(session)
            for _ in range(UPDATE_ATTEMPTS):
                current = await repository.get(parsed, with_images=False)
                if current is None:
                    raise NotFound(f"order {order_id} does not exist")
                outcome = await repository.delivery_outcome(current.id)
                if outcome is not None:
                    _repeat(current, outcome, "delivered", request_id, digest)
                    return await _full(repository, current)
                on_its_way = await _set_off(session, repository, current, actor)
                if on_its_way is None:
                    continue  # changed meanwhile (perhaps this very request, retried): look again
                is_move(on_its_way.status, OrderStatus.DELIVERED)
                if not await repository.update_if_version(
                    current.id, on_its_way.version, {"status": OrderStatus.DELIVERED.value}
                ):
                    continue
                await repository.add_delivery(
                    current.id,
                    outcome="delivered",
                    request_id=request_id,
                    fingerprint=digest,
                    occurred_at=clean.delivered_at,
                    actor=actor,
                    proof=clean,
                )
                await RefillRepository(session).record(
                    current.customer_id, taipei_date(clean.delivered_at), delivered_kg(clean)
                )
                record = await _full(repository, current)
                await record_order_event(
                    session,
                    "delivery.completed",
                    record,
                    delivered=[asdict(item) for item in clean.delivered],
                    empties_received=[asdict(item) for item in clean.empties_received],
                    residual_gas_kg=clean.residual_gas_kg,
                    cash_collected=clean.cash_collected,
                    delivered_at=clean.delivered_at.isoformat(),
                    actor=actor,
                )
                return record
        raise VersionConflict(f"order {order_id} kept changing while the delivery was recorded; retry")

    async def fail(
        self, order_id: str, reason: str, notes: str = "", request_id: str = "", actor: str = ""
    ) -> OrderRecord:
        """Record a failed visit (not home, refused, wrong address). Repeating it is a no-op returning the order."""
        parsed = parse_uuid(order_id, "id", "an order id")
        check_request_id(request_id, required=False)
        check_actor(actor)
        violations = []
        if reason not in FAILURE_REASONS:
            violations.append(FieldViolation("reason", f"must be one of {', '.join(FAILURE_REASONS)}"))
        if len(notes) > MAX_NOTES:
            violations.append(FieldViolation("notes", f"at most {MAX_NOTES} characters"))
        if violations:
            raise InvalidArgument.from_violations(violations)
        digest = fingerprint({"reason": reason, "notes": notes.strip()})
        async with self.database.session() as session:
            repository = OrderRepository(session)
            for _ in range(UPDATE_ATTEMPTS):
                current = await repository.get(parsed, with_images=False)
                if current is None:
                    raise NotFound(f"order {order_id} does not exist")
                outcome = await repository.delivery_outcome(current.id)
                if outcome is not None:
                    _repeat(current, outcome, "failed", request_id, digest)
                    return await _full(repository, current)
                on_its_way = await _set_off(session, repository, current, actor)
                if on_its_way is None:
                    continue
                is_move(on_its_way.status, OrderStatus.FAILED)
                changes = {"status": OrderStatus.FAILED.value, "failure_reason": reason}
                if not await repository.update_if_version(current.id, on_its_way.version, changes):
                    continue
                await repository.add_delivery(
                    current.id,
                    outcome="failed",
                    request_id=request_id,
                    fingerprint=digest,
                    occurred_at=self.clock(),
                    actor=actor,
                    failure_reason=reason,
                    notes=notes.strip(),
                )
                record = await _full(repository, current)
                await record_order_event(
                    session, "delivery.failed", record, reason=reason, notes=notes.strip(), actor=actor
                )
                return record
        raise VersionConflict(f"order {order_id} kept changing while the failure was recorded; retry")


async def _set_off(
    session: AsyncSession, repository: OrderRepository, current: OrderRecord, actor: str
) -> OrderRecord | None:
    """The order in delivery: an assigned one is moved there first (the driver set off; the same change and
    ``order.delivery_started`` event as TransitionOrder's), any other is returned as it is for the visit's own
    check. None when the order changed since it was read."""
    if current.status != OrderStatus.ASSIGNED:
        return current
    changes = {"status": OrderStatus.IN_DELIVERY.value}
    if not await repository.update_if_version(current.id, current.version, changes):
        return None
    started = await repository.get(current.id, with_images=False)
    if started is None:
        raise NotFound(f"order {current.id} does not exist")
    await record_order_event(
        session,
        TRANSITION_EVENTS[OrderStatus.IN_DELIVERY],
        started,
        previous_status=current.status.value,
        actor=actor,
    )
    return started


def _repeat(current: OrderRecord, outcome: DeliveryOutcome, wanted: str, request_id: str, digest: str) -> None:
    """Return quietly when this is the request that recorded the visit; otherwise say why it is refused."""
    same_request = outcome.request_id == request_id if request_id else outcome.fingerprint == digest
    if outcome.outcome == wanted and same_request:
        if outcome.fingerprint != digest:
            raise AlreadyExists(
                f"request_id {request_id} recorded another {wanted} visit of order {current.number}",
                [FieldViolation("request_id", "reused with a different request body")],
            )
        return
    raise FailedPrecondition(
        f"order {current.number} is {current.status}: its visit is already recorded"
        + (f" by request {outcome.request_id}" if outcome.request_id else ""),
        [FieldViolation("status", f"{current.status} is final")],
    )


async def _full(repository: OrderRepository, current: OrderRecord) -> OrderRecord:
    record = await repository.get(current.id)
    if record is None:
        raise NotFound(f"order {current.id} does not exist")
    return record
