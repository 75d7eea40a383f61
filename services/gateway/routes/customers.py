"""``/api/v1/customers``: office staff manage customers through the customer gRPC service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status
from google.protobuf.field_mask_pb2 import FieldMask
from luckygas.customer.v1 import customer_pb2 as pb

from services.gateway import problems
from services.gateway.context import GatewayContext, get_context
from services.gateway.errors import PreconditionRequired
from services.gateway.mappers.customers import customer_fields, customer_out
from services.gateway.schemas.common import parse_version_tag
from services.gateway.schemas.customers import CustomerCreate, CustomerOut, CustomerPage, CustomerPatch, Termination
from services.gateway.security import OFFICE
from services.gateway.tokens import AccessClaims

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])

Context = Annotated[GatewayContext, Depends(get_context)]
Office = Annotated[AccessClaims, Depends(OFFICE)]


def _etag(customer: pb.Customer, response: Response) -> None:
    response.headers["ETag"] = f'"{customer.version}"'


def parse_if_match(if_match: str | None) -> int:
    if if_match is None:
        raise PreconditionRequired("If-Match with the customer's version (its ETag) is required")
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
        pb.CreateCustomerRequest(customer=customer_fields(body.model_dump()), request_id=idempotency_key or "")
    )
    response.headers["Location"] = f"{router.prefix}/{created.id}"
    _etag(created, response)
    return customer_out(created)


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
    """Customers matching the search (text in code, name, phone or address; zones; segments; terminated or not),
    a page at a time (next_page_token continues)."""
    request = pb.SearchCustomersRequest(
        query=q, zones=zone or [], segments=segment or [], page_size=page_size, page_token=page_token
    )
    if terminated is not None:
        request.terminated = terminated
    page = await context.customers.SearchCustomers(request)
    return CustomerPage(items=[customer_out(c) for c in page.customers], next_page_token=page.next_page_token or None)


@router.get("/{customer_id}", response_model=CustomerOut)
async def get_customer(customer_id: str, context: Context, claims: Office) -> Response:
    """One customer, with its ETag (the version an update must name in If-Match)."""
    customer = await context.customers.GetCustomer(pb.GetCustomerRequest(id=customer_id))
    # The hottest read of the API: serialise the already-validated model once, skipping FastAPI's
    # second validation pass over the response model.
    return Response(
        customer_out(customer).model_dump_json(),
        media_type="application/json",
        headers={"ETag": f'"{customer.version}"'},
    )


@router.patch("/{customer_id}", response_model=CustomerOut, responses=problems.documented(428))
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
            customer=customer_fields(changed),
            update_mask=FieldMask(paths=sorted(changed)),
        )
    )
    _etag(updated, response)
    return customer_out(updated)


@router.post("/{customer_id}/terminate", response_model=CustomerOut)
async def terminate_customer(
    customer_id: str, body: Termination, context: Context, claims: Office, response: Response
) -> CustomerOut:
    """Mark the customer terminated (idempotent)."""
    terminated = await context.customers.TerminateCustomer(
        pb.TerminateCustomerRequest(id=customer_id, reason=body.reason)
    )
    _etag(terminated, response)
    return customer_out(terminated)
