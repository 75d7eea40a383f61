"""The gRPC transport of the customer service: proto in, service call, proto out. No SQL here."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import grpc
from luckygas.customer.v1 import customer_pb2 as pb
from luckygas.customer.v1 import customer_pb2_grpc

from services.customer.canonical_rows import CanonicalCustomers
from services.customer.rest_days import is_open
from services.customer.schemas import CustomerFields, CustomerRecord, SearchFilter
from services.customer.service import CustomerService
from services.platform.errors import InvalidArgument
from services.platform.proto_values import optional_timestamp, parse_date, timestamp


def fields_from_proto(message: pb.CustomerFields) -> CustomerFields:
    return CustomerFields(
        code=message.code,
        short_name=message.short_name,
        invoice_title=message.invoice_title,
        tax_id=message.tax_id,
        phones=list(message.phones),
        address=message.address,
        postal_code=message.postal_code,
        zone=message.zone,
        latitude=message.latitude if message.HasField("latitude") else None,
        longitude=message.longitude if message.HasField("longitude") else None,
        segment=message.segment,
        hourly_windows=list(message.hourly_windows),
        slot_code=message.slot_code if message.HasField("slot_code") else None,
        rest_days=message.rest_days,
        vehicle_requirement=message.vehicle_requirement,
        cylinders=_cylinders_from_proto(message.cylinders),
        spare_cylinders=message.spare_cylinders,
        manifolded_cylinders=message.manifolded_cylinders,
        consumption_kg_per_day=message.consumption_kg_per_day,
        max_cycle_days=message.max_cycle_days,
        slip_days=message.slip_days,
        pricing_method=message.pricing_method,
        payment_terms=message.payment_terms,
        subscription=message.subscription,
        alert_device=message.alert_device,
        credit_limit=message.credit_limit,
        blocked=message.blocked,
        notes=message.notes,
    )


def _cylinders_from_proto(holdings: Iterable[pb.CylinderHolding]) -> dict[str, int]:
    cylinders: dict[str, int] = {}
    for holding in holdings:
        if holding.product in cylinders:
            raise InvalidArgument.for_field(f"cylinders[{holding.product}]", "product listed twice")
        cylinders[holding.product] = holding.quantity
    return cylinders


# The flat fields, copied as they are; cylinders become holdings and unset optionals stay unset. (Not
# dataclasses.asdict: it deep-copies every value, and took a third of the service's CPU in a page of search results.)
_SCALAR_FIELDS = tuple(name for name in CustomerFields.__dataclass_fields__ if name != "cylinders")
_OPTIONAL_FIELDS = frozenset({"latitude", "longitude", "slot_code"})


def fields_to_proto(fields: CustomerFields) -> pb.CustomerFields:
    values = {name: getattr(fields, name) for name in _SCALAR_FIELDS}
    for optional in _OPTIONAL_FIELDS:
        if values[optional] is None:
            del values[optional]
    message = pb.CustomerFields(**values)
    message.cylinders.extend(pb.CylinderHolding(product=p, quantity=q) for p, q in fields.cylinders.items())
    return message


def record_to_proto(record: CustomerRecord) -> pb.Customer:
    return pb.Customer(
        id=str(record.id),
        fields=fields_to_proto(record.fields),
        terminated=record.terminated,
        termination_reason=record.termination_reason,
        created_at=timestamp(record.created_at),
        updated_at=timestamp(record.updated_at),
        terminated_at=optional_timestamp(record.terminated_at),
        version=record.version,
    )


class CustomerServicer(customer_pb2_grpc.CustomerServiceServicer):
    def __init__(self, customers: CustomerService, canonical: CanonicalCustomers) -> None:
        self.customers = customers
        self.canonical = canonical

    async def CreateCustomer(self, request: pb.CreateCustomerRequest, context: grpc.aio.ServicerContext) -> pb.Customer:
        record = await self.customers.create(fields_from_proto(request.customer), request.request_id)
        return record_to_proto(record)

    async def GetCustomer(self, request: pb.GetCustomerRequest, context: grpc.aio.ServicerContext) -> pb.Customer:
        if request.WhichOneof("key") == "code":
            record = await self.customers.get_by_code(request.code)
        else:
            record = await self.customers.get(request.id)
        return record_to_proto(record)

    async def BatchGetCustomers(
        self, request: pb.BatchGetCustomersRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchGetCustomersResponse:
        resting_on = parse_date(request.resting_on, "resting_on") if request.resting_on else None
        records, missing = await self.customers.batch_get(list(request.ids), list(request.codes))
        resting = [str(r.id) for r in records if resting_on is not None and not is_open(r.fields.rest_days, resting_on)]
        return pb.BatchGetCustomersResponse(
            customers=[record_to_proto(r) for r in records], missing=missing, resting_ids=resting
        )

    async def SearchCustomers(
        self, request: pb.SearchCustomersRequest, context: grpc.aio.ServicerContext
    ) -> pb.SearchCustomersResponse:
        search = SearchFilter(
            query=request.query,
            zones=tuple(request.zones),
            segments=tuple(request.segments),
            terminated=request.terminated if request.HasField("terminated") else None,
        )
        page = await self.customers.search(search, request.page_size, request.page_token)
        return pb.SearchCustomersResponse(
            customers=[record_to_proto(r) for r in page.customers], next_page_token=page.next_page_token
        )

    async def UpdateCustomer(self, request: pb.UpdateCustomerRequest, context: grpc.aio.ServicerContext) -> pb.Customer:
        record = await self.customers.update(
            request.id, request.expected_version, fields_from_proto(request.customer), request.update_mask.paths
        )
        return record_to_proto(record)

    async def TerminateCustomer(
        self, request: pb.TerminateCustomerRequest, context: grpc.aio.ServicerContext
    ) -> pb.Customer:
        record = await self.customers.terminate(request.id, request.reason)
        return record_to_proto(record)

    async def ChecksumCustomers(
        self, request: pb.ChecksumCustomersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ChecksumCustomersResponse:
        summaries = await self.canonical.checksum([(r.start, r.end) for r in request.ranges])
        return pb.ChecksumCustomersResponse(
            ranges=[
                pb.RangeChecksum(
                    range=pb.KeyRange(start=s.start, end=s.end), count=s.count, digest_sum=str(s.digest_sum)
                )
                for s in summaries
            ]
        )

    async def ListCanonicalCustomers(
        self, request: pb.ListCanonicalCustomersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCanonicalCustomersResponse:
        page = await self.canonical.rows(request.range.start, request.range.end, request.limit)
        return pb.ListCanonicalCustomersResponse(
            rows=[pb.CanonicalRow(key=key, canonical=canonical) for key, canonical in page.rows],
            truncated=page.truncated,
        )


def registrar(customers: CustomerService, canonical: CanonicalCustomers) -> Callable[[grpc.aio.Server], None]:
    def register(server: grpc.aio.Server) -> None:
        customer_pb2_grpc.add_CustomerServiceServicer_to_server(CustomerServicer(customers, canonical), server)

    return register


SERVICE_NAME = pb.DESCRIPTOR.services_by_name["CustomerService"].full_name
