"""Customers: REST bodies ↔ ``luckygas.customer.v1`` messages."""

from __future__ import annotations

from typing import Any

from luckygas.customer.v1 import customer_pb2 as pb

from services.gateway.mappers.common import timestamp, timestamp_field
from services.gateway.schemas.customers import CustomerOut


def customer_fields(values: dict[str, Any]) -> pb.CustomerFields:
    values = dict(values)
    cylinders = values.pop("cylinders", None) or {}
    message = pb.CustomerFields(**{key: value for key, value in values.items() if value is not None})
    message.cylinders.extend(pb.CylinderHolding(product=p, quantity=q) for p, q in cylinders.items())
    return message


def customer_out(customer: pb.Customer) -> CustomerOut:
    fields = customer.fields
    return CustomerOut(
        id=customer.id,
        version=customer.version,
        terminated=customer.terminated,
        termination_reason=customer.termination_reason,
        created_at=timestamp(customer.created_at),
        updated_at=timestamp(customer.updated_at),
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
