"""The order lifecycle of docs/domain.md#order-lifecycle, in one place: which moves exist and what refusing one says.

    pending → confirmed → assigned → in_delivery → delivered
    cancelled from pending, confirmed or assigned (before in_delivery); failed from in_delivery (at the door).

Delivered, cancelled and failed are final. Asking for the state an order is already in is not a move: the
caller gets the order back unchanged, so a retried request is harmless. CompleteDelivery and FailDelivery take
an assigned order through in_delivery in one transaction: both moves and both events, as if the driver had
started the delivery first.
"""

from __future__ import annotations

from enum import StrEnum

from services.platform.errors import FailedPrecondition, FieldViolation


class OrderStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    ASSIGNED = "assigned"
    IN_DELIVERY = "in_delivery"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    FAILED = "failed"


TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED}),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.ASSIGNED, OrderStatus.CANCELLED}),
    OrderStatus.ASSIGNED: frozenset({OrderStatus.IN_DELIVERY, OrderStatus.CANCELLED}),
    OrderStatus.IN_DELIVERY: frozenset({OrderStatus.DELIVERED, OrderStatus.FAILED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.FAILED: frozenset(),
}

INITIAL = OrderStatus.PENDING
# Orders still to be delivered: they count as open for "one open order per customer per day" and for credit.
OPEN: frozenset[OrderStatus] = frozenset(
    {OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.ASSIGNED, OrderStatus.IN_DELIVERY}
)
FINAL: frozenset[OrderStatus] = frozenset(status for status, targets in TRANSITIONS.items() if not targets)


def is_move(current: OrderStatus, requested: OrderStatus) -> bool:
    """True when ``current → requested`` is an edge of the graph; False when the order is already there.

    Anything else raises FailedPrecondition naming both states.
    """
    if requested == current:
        return False
    if requested in TRANSITIONS[current]:
        return True
    allowed = ", ".join(sorted(TRANSITIONS[current])) or "none, it is final"
    raise FailedPrecondition(
        f"order is {current}; it cannot become {requested} (allowed from {current}: {allowed})",
        [FieldViolation("status", f"{current} → {requested} is not allowed")],
    )
