"""``/api/v1/customers``: office staff manage customers through the customer gRPC service."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, status
from google.protobuf.field_mask_pb2 import FieldMask
from luckygas.customer.v1 import customer_pb2 as pb

from services.gateway.context import GatewayContext, get_context
from services.gateway.schemas import (
    CustomerCreate,
    CustomerOut,
    CustomerPage,
    CustomerPatch,
    Termination,
    parse_version_tag,
    timestamp_field,
)
from services.gateway.security import OFFICE
from services.gateway.tokens import AccessClaims

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])

Context = Annotated[GatewayContext, Depends(get_context)]
Office = Annotated[AccessClaims, Depends(OFFICE)]


def to_fields(values: dict[str, Any]) -> pb.CustomerFields:
    values = dict(values)
    cylinders = values.pop("cylinders", None) or {}
    message = pb.CustomerFields(**{key: value for key, value in values.items() if value is not None})
    message.cylinders.extend(pb.CylinderHolding(product=p, quantity=q) for p, q in cylinders.items())
    return message


def to_out(customer: pb.Customer) -> CustomerOut:
    fields = customer.fields
    return CustomerOut(
        id=customer.id,
        version=customer.version,
        terminated=customer.terminated,
        termination_reason=customer.termination_reason,
        created_at=customer.created_at.ToDatetime(tzinfo=UTC),
        updated_at=customer.updated_at.ToDatetime(tzinfo=UTC),
        terminated_at=timestamp_field(customer, "terminated_at"),
        code=fields.code,
        short_name=fields.short_name,
        invoice_title=fields.invoice_title,
        tax_id=fields.tax_id,
        phones=list(fields.phones),
        address=fields.address,
        postal_code=fields.postal_code,
        zone=fields.zone,
        latitude=fields.latitude if fields.HasField("latitude") else None,
        longitude=fields.longitude if fields.HasField("longitude") else None,
        segment=fields.segment,
        hourly_windows=list(fields.hourly_windows),
        slot_code=fields.slot_code if fields.HasField("slot_code") else None,
        rest_days=fields.rest_days,
        vehicle_requirement=fields.vehicle_requirement,
        cylinders={holding.product: holding.quantity for holding in fields.cylinders},
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


def _etag(customer: pb.Customer, response: Response) -> None:
    response.headers["ETag"] = f'"{customer.version}"'


def parse_if_match(if_match: str | None) -> int:
    if if_match is None:
        raise HTTPException(
            status.HTTP_428_PRECONDITION_REQUIRED, "If-Match with the customer's version (its ETag) is required"
        )
    return parse_version_tag(if_match, "customer")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CustomerOut)
async def create_customer(
    body: CustomerCreate,
    context: Context,
    claims: Office,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
) -> CustomerOut:
    """Create a customer. Send an Idempotency-Key to make retries safe."""
    created = await context.customers.CreateCustomer(
        pb.CreateCustomerRequest(customer=to_fields(body.model_dump()), request_id=idempotency_key or "")
    )
    response.headers["Location"] = f"{router.prefix}/{created.id}"
    _etag(created, response)
    return to_out(created)


@router.get("", response_model=CustomerPage)
async def search_customers(
    context: Context,
    claims: Office,
    q: Annotated[str, Query(max_length=100, description="text in code, name, phone or address")] = "",
    zone: Annotated[list[str] | None, Query()] = None,
    segment: Annotated[list[str] | None, Query()] = None,
    terminated: bool | None = None,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    page_token: Annotated[str, Query(max_length=500)] = "",
) -> CustomerPage:
    request = pb.SearchCustomersRequest(
        query=q, zones=zone or [], segments=segment or [], page_size=page_size, page_token=page_token
    )
    if terminated is not None:
        request.terminated = terminated
    page = await context.customers.SearchCustomers(request)
    return CustomerPage(items=[to_out(c) for c in page.customers], next_page_token=page.next_page_token or None)


@router.get("/{customer_id}", response_model=CustomerOut)
async def get_customer(customer_id: str, context: Context, claims: Office) -> Response:
    customer = await context.customers.GetCustomer(pb.GetCustomerRequest(id=customer_id))
    # The hottest read of the API: serialise the already-validated model once, skipping FastAPI's
    # second validation pass over the response model.
    return Response(
        to_out(customer).model_dump_json(),
        media_type="application/json",
        headers={"ETag": f'"{customer.version}"'},
    )


@router.patch("/{customer_id}", response_model=CustomerOut)
async def update_customer(
    customer_id: str,
    body: CustomerPatch,
    context: Context,
    claims: Office,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> CustomerOut:
    """Change the fields present in the body. If-Match must carry the version read (the ETag)."""
    expected = parse_if_match(if_match)
    changed = body.model_dump(include=body.model_fields_set)
    updated = await context.customers.UpdateCustomer(
        pb.UpdateCustomerRequest(
            id=customer_id,
            expected_version=expected,
            customer=to_fields(changed),
            update_mask=FieldMask(paths=sorted(changed)),
        )
    )
    _etag(updated, response)
    return to_out(updated)


@router.post("/{customer_id}/terminate", response_model=CustomerOut)
async def terminate_customer(
    customer_id: str, body: Termination, context: Context, claims: Office, response: Response
) -> CustomerOut:
    """Mark the customer terminated (idempotent)."""
    terminated = await context.customers.TerminateCustomer(
        pb.TerminateCustomerRequest(id=customer_id, reason=body.reason)
    )
    _etag(terminated, response)
    return to_out(terminated)
