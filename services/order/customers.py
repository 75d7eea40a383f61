"""The customer service as the order service sees it: a gRPC client that speaks in CustomerInfo.

gRPC errors are translated here, at the adapter boundary: a missing customer is None, a customer service that
does not answer within the deadline is Unavailable (the caller may retry).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable

import grpc
from luckygas.customer.v1 import customer_pb2 as customer_pb
from luckygas.customer.v1 import customer_pb2_grpc

from services.order.schemas import CustomerInfo
from services.platform.downstream import downstream_error
from services.platform.errors import InvalidArgument

CUSTOMER_SERVICE = customer_pb.DESCRIPTOR.services_by_name["CustomerService"]
PAGE_SIZE = 200
BATCH_SIZE = 500  # the customer service's BatchGetCustomers limit


def to_info(customer: customer_pb.Customer) -> CustomerInfo:
    fields = customer.fields
    return CustomerInfo(
        id=uuid.UUID(customer.id),
        code=fields.code,
        short_name=fields.short_name,
        zone=fields.zone,
        payment_terms=fields.payment_terms,
        credit_limit=fields.credit_limit,
        blocked=fields.blocked,
        terminated=customer.terminated,
        holdings={holding.product: holding.quantity for holding in fields.cylinders},
        spare_cylinders=fields.spare_cylinders,
        consumption_kg_per_day=fields.consumption_kg_per_day,
        max_cycle_days=fields.max_cycle_days,
        slip_days=fields.slip_days,
        hourly_windows=tuple(fields.hourly_windows),
    )


class CustomerDirectory:
    """Reads customers from the customer service; every call carries the channel's deadline."""

    def __init__(self, channel: grpc.aio.Channel, *, deadline_seconds: float = 2.0) -> None:
        self._stub = customer_pb2_grpc.CustomerServiceStub(channel)
        self._deadline = deadline_seconds

    async def get(self, customer_id: uuid.UUID) -> CustomerInfo | None:
        try:
            reply = await self._stub.GetCustomer(
                customer_pb.GetCustomerRequest(id=str(customer_id)), timeout=self._deadline
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise downstream_error("customer", error) from error
        return to_info(reply)

    async def get_many(self, customer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CustomerInfo]:
        """The customers with these ids that exist; batches of BATCH_SIZE asked for at the same time."""
        ids = [str(customer_id) for customer_id in dict.fromkeys(customer_ids)]

        async def batch(start: int) -> list[CustomerInfo]:
            try:
                reply = await self._stub.BatchGetCustomers(
                    customer_pb.BatchGetCustomersRequest(ids=ids[start : start + BATCH_SIZE]), timeout=self._deadline
                )
            except grpc.aio.AioRpcError as error:
                raise downstream_error("customer", error) from error
            return [to_info(customer) for customer in reply.customers]

        batches = await asyncio.gather(*(batch(start) for start in range(0, len(ids), BATCH_SIZE)))
        return {info.id: info for infos in batches for info in infos}

    async def active(self, zones: Iterable[str] = ()) -> list[CustomerInfo]:
        """Every customer not terminated (in ``zones`` when given), paging through SearchCustomers."""
        customers: list[CustomerInfo] = []
        token = ""  # nosec B105 # a page token, empty for the first page
        while True:
            try:
                page = await self._stub.SearchCustomers(
                    customer_pb.SearchCustomersRequest(
                        zones=list(zones), terminated=False, page_size=PAGE_SIZE, page_token=token
                    ),
                    timeout=self._deadline,
                )
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.INVALID_ARGUMENT:  # an unknown zone
                    raise InvalidArgument.for_field("zones", error.details() or "invalid") from error
                raise downstream_error("customer", error) from error
            customers += map(to_info, page.customers)
            token = page.next_page_token
            if not token:
                return customers
