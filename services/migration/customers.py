"""The customer service as migration-sync sees it: customers by code, created, updated and terminated over gRPC,
and read as ``PlatformCustomer`` (the fields the legacy sheet carries). gRPC errors are translated here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import grpc
from google.protobuf import field_mask_pb2
from luckygas.customer.v1 import customer_pb2 as pb
from luckygas.customer.v1 import customer_pb2_grpc

from services.migration.mapping import CustomerRecordFields, MappedCustomer
from services.migration.reverse import PlatformCustomer
from services.platform.canonical import CUSTOMER_FIELDS
from services.platform.downstream import downstream_error, has_status
from services.platform.errors import Unavailable

CUSTOMER_SERVICE = pb.DESCRIPTOR.services_by_name["CustomerService"]
BATCH_SIZE = 500  # BatchGetCustomers' limit
# What an update from the legacy side may change: the fields the legacy sheet carries (the code is the key).
# Passed on to the caller as our own errors: a legacy value the customer service refuses, a stale version.
PASSED_ON = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED})
LEGACY_FIELDS = tuple(name for name in CUSTOMER_FIELDS if name not in ("code", "terminated"))


def request_id(code: str) -> str:
    """The idempotency key of the customer created for a legacy code: a retried create makes nothing new."""
    return f"legacy-customer:{code}"


def to_proto(fields: CustomerRecordFields) -> pb.CustomerFields:
    message = pb.CustomerFields(
        code=fields.code,
        short_name=fields.short_name,
        invoice_title=fields.invoice_title,
        tax_id=fields.tax_id,
        phones=list(fields.phones),
        address=fields.address,
        postal_code=fields.postal_code,
        zone=fields.zone,
        segment=fields.segment,
        hourly_windows=list(fields.hourly_windows),
        rest_days=fields.rest_days,
        vehicle_requirement=fields.vehicle_requirement,
        cylinders=[pb.CylinderHolding(product=product, quantity=count) for product, count in fields.cylinders.items()],
        spare_cylinders=fields.spare_cylinders,
        manifolded_cylinders=fields.manifolded_cylinders,
        consumption_kg_per_day=fields.consumption_kg_per_day,
        max_cycle_days=fields.max_cycle_days,
        slip_days=fields.slip_days,
        pricing_method=fields.pricing_method,
        payment_terms=fields.payment_terms,
        subscription=fields.subscription,
        alert_device=fields.alert_device,
        credit_limit=fields.credit_limit,
        blocked=fields.blocked,
        notes=fields.notes,
    )
    if fields.slot_code is not None:
        message.slot_code = fields.slot_code
    return message


def from_mapped(mapped: MappedCustomer) -> PlatformCustomer:
    fields = mapped.fields
    return PlatformCustomer(
        **{name: getattr(fields, name) for name in CUSTOMER_FIELDS if name != "terminated"},
        terminated=mapped.terminated,
    )


def from_proto(customer: pb.Customer) -> PlatformCustomer:
    fields = customer.fields
    return PlatformCustomer(
        code=fields.code,
        short_name=fields.short_name,
        invoice_title=fields.invoice_title,
        tax_id=fields.tax_id,
        phones=tuple(fields.phones),
        address=fields.address,
        zone=fields.zone,
        segment=fields.segment,
        hourly_windows=tuple(fields.hourly_windows),
        slot_code=fields.slot_code if fields.HasField("slot_code") else None,
        rest_days=fields.rest_days,
        vehicle_requirement=fields.vehicle_requirement,
        cylinders={holding.product: holding.quantity for holding in fields.cylinders},
        consumption_kg_per_day=fields.consumption_kg_per_day,
        max_cycle_days=fields.max_cycle_days,
        slip_days=fields.slip_days,
        pricing_method=fields.pricing_method,
        payment_terms=fields.payment_terms,
        subscription=fields.subscription,
        alert_device=fields.alert_device,
        terminated=customer.terminated,
    )


class CustomerDirectory:
    """Customers of the new platform, by legacy code; each call carries the deadline."""

    def __init__(self, channel: grpc.aio.Channel, *, deadline_seconds: float) -> None:
        self._stub = customer_pb2_grpc.CustomerServiceStub(channel)
        self._deadline = deadline_seconds

    @property
    def stub(self) -> customer_pb2_grpc.CustomerServiceStub:
        return self._stub

    async def by_codes(self, codes: Iterable[str]) -> dict[str, pb.Customer]:
        wanted = list(dict.fromkeys(codes))
        found: dict[str, pb.Customer] = {}
        for start in range(0, len(wanted), BATCH_SIZE):
            try:
                reply = await self._stub.BatchGetCustomers(
                    pb.BatchGetCustomersRequest(codes=wanted[start : start + BATCH_SIZE]), timeout=self._deadline
                )
            except grpc.aio.AioRpcError as error:
                raise downstream_error("customer", error) from error
            found.update((customer.fields.code, customer) for customer in reply.customers)
        return found

    async def by_code(self, code: str) -> pb.Customer | None:
        try:
            found: pb.Customer = await self._stub.GetCustomer(pb.GetCustomerRequest(code=code), timeout=self._deadline)
        except grpc.aio.AioRpcError as error:
            if has_status(error, grpc.StatusCode.NOT_FOUND):
                return None
            raise downstream_error("customer", error) from error
        return found

    async def by_id(self, customer_id: str) -> pb.Customer | None:
        try:
            found: pb.Customer = await self._stub.GetCustomer(
                pb.GetCustomerRequest(id=customer_id), timeout=self._deadline
            )
        except grpc.aio.AioRpcError as error:
            if has_status(error, grpc.StatusCode.NOT_FOUND):
                return None
            raise downstream_error("customer", error) from error
        return found

    async def create(self, mapped: MappedCustomer) -> pb.Customer:
        """Create the customer of a legacy row (idempotent by its code); when the code is already taken, the
        customer that has it (the caller then updates it if it differs)."""
        try:
            created: pb.Customer = await self._stub.CreateCustomer(
                pb.CreateCustomerRequest(customer=to_proto(mapped.fields), request_id=request_id(mapped.fields.code)),
                timeout=self._deadline,
            )
            return created
        except grpc.aio.AioRpcError as error:
            if not has_status(error, grpc.StatusCode.ALREADY_EXISTS):
                raise downstream_error("customer", error, pass_on={grpc.StatusCode.INVALID_ARGUMENT}) from error
        existing = await self.by_code(mapped.fields.code)
        if existing is None:  # taken a moment ago and gone now: try again later
            raise Unavailable(f"customer code {mapped.fields.code} is taken, but no customer has it")
        return existing

    async def update(self, customer: pb.Customer, fields: CustomerRecordFields, names: Sequence[str]) -> pb.Customer:
        """Set ``names`` of ``customer`` from ``fields`` if it is still at the version read."""
        request = pb.UpdateCustomerRequest(
            id=customer.id,
            expected_version=customer.version,
            customer=to_proto(fields),
            update_mask=field_mask_pb2.FieldMask(paths=list(names)),
        )
        try:
            updated: pb.Customer = await self._stub.UpdateCustomer(request, timeout=self._deadline)
        except grpc.aio.AioRpcError as error:
            raise downstream_error("customer", error, pass_on=PASSED_ON) from error
        return updated

    async def set_text(self, customer: pb.Customer, values: dict[str, str]) -> pb.Customer:
        """Set text fields (short_name, address, …) of ``customer`` by hand, if it is still at the version read."""
        fields = pb.CustomerFields()
        for name, value in values.items():
            setattr(fields, name, value)
        request = pb.UpdateCustomerRequest(
            id=customer.id,
            expected_version=customer.version,
            customer=fields,
            update_mask=field_mask_pb2.FieldMask(paths=sorted(values)),
        )
        try:
            updated: pb.Customer = await self._stub.UpdateCustomer(request, timeout=self._deadline)
        except grpc.aio.AioRpcError as error:
            raise downstream_error("customer", error, pass_on=PASSED_ON) from error
        return updated

    async def terminate(self, customer: pb.Customer) -> pb.Customer:
        try:
            terminated: pb.Customer = await self._stub.TerminateCustomer(
                pb.TerminateCustomerRequest(id=customer.id, reason="已解約 in the legacy system"),
                timeout=self._deadline,
            )
        except grpc.aio.AioRpcError as error:
            raise downstream_error("customer", error) from error
        return terminated
