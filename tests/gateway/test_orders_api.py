"""Orders through the gateway's REST API, the real order and customer services, Postgres and Redis.

The order service's own rules are tested at its gRPC surface (tests/order); these tests are about what an HTTP
client sees: status codes, headers, problem+json bodies naming fields, and the roles allowed to act.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.platform.database import Database
from tests.gateway.conftest import bearer
from tests.gateway.factories import customer_body, delivery_body, order_body, png
from tests.order.factories import DaysSpanned, day, number_parts, on_one_day

PROBLEM = "application/problem+json"
ORDERS = "/api/v1/orders"
JPEG_MAGIC = b"\xff\xd8\xff\xe0"


@pytest.fixture
def office(tokens: dict[str, str]) -> dict[str, str]:
    return bearer(tokens["dispatcher"])


def keyed(headers: dict[str, str], key: str | None = None) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key or f"test-{uuid.uuid4()}"}


async def new_customer(
    gateway: httpx.AsyncClient, office: dict[str, str], *, terminated: bool = False, **overrides: Any
) -> dict[str, Any]:
    created = await gateway.post("/api/v1/customers", json=customer_body(**overrides), headers=office)
    assert created.status_code == 201, created.text
    if terminated:
        ended = await gateway.post(
            f"/api/v1/customers/{created.json()['id']}/terminate", json={"reason": "歇業"}, headers=office
        )
        assert ended.status_code == 200, ended.text
    return dict(created.json())


async def new_order(
    gateway: httpx.AsyncClient, office: dict[str, str], customer_id: str, **overrides: Any
) -> dict[str, Any]:
    created = await gateway.post(ORDERS, json=order_body(customer_id, **overrides), headers=keyed(office))
    assert created.status_code == 201, created.text
    return dict(created.json())


async def move(gateway: httpx.AsyncClient, headers: dict[str, str], order_id: str, step: str) -> dict[str, Any]:
    """One lifecycle step that must succeed: confirm, assign (to route R-01), start-delivery."""
    body = {"route_id": "R-01"} if step == "assign" else None
    response = await gateway.post(f"{ORDERS}/{order_id}/{step}", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def in_delivery(gateway: httpx.AsyncClient, office: dict[str, str], customer_id: str) -> dict[str, Any]:
    order = await new_order(gateway, office, customer_id)
    for step in ("confirm", "assign", "start-delivery"):
        order = await move(gateway, office, order["id"], step)
    assert order["status"] == "in_delivery"
    return order


async def orders_of(gateway: httpx.AsyncClient, office: dict[str, str], customer_id: str) -> list[dict[str, Any]]:
    listed = await gateway.get(ORDERS, params={"customer_id": customer_id}, headers=office)
    assert listed.status_code == 200, listed.text
    return list(listed.json()["items"])


async def order_events(database: Database) -> int:
    async with database.session() as session:
        return int((await session.execute(text('SELECT count(*) FROM "order".outbox'))).scalar_one())


def fields(problem: httpx.Response) -> set[str]:
    assert problem.headers["content-type"] == PROBLEM, problem.text
    return {error["field"] for error in problem.json().get("errors", [])}


# ------------------------------------------------------------------------------------------------------ create


async def test_create_is_201_with_location_and_totals_with_5_percent_vat(
    gateway: httpx.AsyncClient, office: dict[str, str]
) -> None:
    customer = await new_customer(gateway, office, zone="B")

    body = order_body(customer["id"])
    with DaysSpanned() as days:
        created = await gateway.post(ORDERS, json=body, headers=keyed(office))

    assert created.status_code == 201, created.text
    order = created.json()
    assert created.headers["Location"] == f"{ORDERS}/{order['id']}"
    assert number_parts(order["number"])[0] in days.dates
    assert (order["status"], order["customer_code"], order["customer_zone"]) == ("pending", customer["code"], "B")
    assert (order["scheduled_date"], order["window"]) == (body["scheduled_date"], {"start": "09:00", "end": "12:00"})
    assert order["items"] == [{"product": "cylinder-20-regular", "quantity": 2, "unit_price": 760, "line_total": 1520}]
    assert (order["subtotal"], order["urgent_surcharge"], order["vat"], order["total"]) == (1520, 0, 76, 1596)
    assert (order["payment_method"], order["created_by"], order["version"]) == ("cash", "dispatcher", 1)
    fetched = await gateway.get(created.headers["Location"], headers=office)
    assert fetched.status_code == 200
    assert fetched.json() == order


async def test_urgent_surcharge_is_added_before_vat(gateway: httpx.AsyncClient, office: dict[str, str]) -> None:
    customer = await new_customer(gateway, office)
    items = [{"product": "cylinder-20-regular", "quantity": 2}, {"product": "cylinder-16-lucky", "quantity": 1}]

    order = await new_order(gateway, office, customer["id"], items=items, urgent=True)

    # (1,520 + 640 + 200 surcharge) × 5% = 118.
    assert [line["line_total"] for line in order["items"]] == [1520, 640]
    assert (order["subtotal"], order["urgent_surcharge"], order["vat"], order["total"]) == (2160, 200, 118, 2478)


async def test_create_without_idempotency_key_is_422_naming_the_header(
    gateway: httpx.AsyncClient, office: dict[str, str]
) -> None:
    customer = await new_customer(gateway, office)

    response = await gateway.post(ORDERS, json=order_body(customer["id"]), headers=office)

    assert response.status_code == 422
    assert fields(response) == {"idempotency-key"}
    assert await orders_of(gateway, office, customer["id"]) == []


async def test_same_key_and_body_returns_the_same_order(gateway: httpx.AsyncClient, office: dict[str, str]) -> None:
    customer = await new_customer(gateway, office)
    headers = keyed(office)

    first = await gateway.post(ORDERS, json=order_body(customer["id"]), headers=headers)
    retry = await gateway.post(ORDERS, json=order_body(customer["id"]), headers=headers)

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert [order["id"] for order in await orders_of(gateway, office, customer["id"])] == [first.json()["id"]]


async def test_same_key_with_another_body_is_409_naming_the_idempotency_key(
    gateway: httpx.AsyncClient, office: dict[str, str]
) -> None:
    customer = await new_customer(gateway, office)
    headers = keyed(office)
    first = await gateway.post(ORDERS, json=order_body(customer["id"]), headers=headers)

    other = await gateway.post(ORDERS, json=order_body(customer["id"], notes="改成三桶"), headers=headers)

    assert other.status_code == 409
    assert fields(other) == {"Idempotency-Key"}
    assert first.json()["number"] in other.json()["detail"]
    assert [order["id"] for order in await orders_of(gateway, office, customer["id"])] == [first.json()["id"]]


async def test_orders_on_the_edges_of_the_rules_are_taken(gateway: httpx.AsyncClient, office: dict[str, str]) -> None:
    customer = await new_customer(gateway, office)

    async def today_with_a_hundred() -> httpx.Response:
        body = order_body(
            customer["id"], scheduled_date=day(0), items=[{"product": "cylinder-4-regular", "quantity": 100}]
        )
        response = await gateway.post(ORDERS, json=body, headers=keyed(office))
        assert response.status_code == 201, response.text
        return response

    first_day = await on_one_day(today_with_a_hundred)
    last_day = await gateway.post(
        ORDERS,
        json=order_body(
            customer["id"],
            scheduled_date=day(30),
            window={"start": "19:00", "end": "20:00"},
            items=[{"product": "cylinder-4-regular", "quantity": 1}],
        ),
        headers=keyed(office),
    )

    assert (first_day.status_code, last_day.status_code) == (201, 201), (first_day.text, last_day.text)


# The invalid payloads of issue 3 §4. Each names the field at fault; nothing is written.
INVALID = [
    pytest.param({}, {"scheduled_date": day(-1)}, 422, "scheduled_date", id="past-date"),
    # Two days past the edge: still past it if midnight comes between collecting and running the test.
    pytest.param({}, {"scheduled_date": day(32)}, 422, "scheduled_date", id="more-than-30-days-ahead"),
    pytest.param({}, {"items": []}, 422, "items", id="no-items"),
    pytest.param(
        {}, {"items": [{"product": "cylinder-20-regular", "quantity": 0}]}, 422, "items[0].quantity", id="quantity-0"
    ),
    pytest.param(
        {},
        {"items": [{"product": "cylinder-20-regular", "quantity": 101}]},
        422,
        "items[0].quantity",
        id="quantity-101",
    ),
    pytest.param({}, {"window": {"start": "12:00", "end": "09:00"}}, 422, "window.end", id="window-start-after-end"),
    pytest.param({}, {"window": {"start": "10:00", "end": "10:00"}}, 422, "window.end", id="window-start-equals-end"),
    pytest.param({"terminated": True}, {}, 422, "customer_id", id="terminated-customer"),
    pytest.param(
        {"payment_terms": "monthly", "credit_limit": 1000},
        {"payment_method": "monthly"},
        409,
        "credit_override",
        id="credit-exceeded",
    ),
    pytest.param({"blocked": True}, {}, 409, "customer_id", id="blocked-customer"),
]


@pytest.mark.parametrize(("customer_overrides", "order_overrides", "status", "field"), INVALID)
async def test_invalid_order_is_refused_naming_the_field_and_nothing_is_written(
    gateway: httpx.AsyncClient,
    office: dict[str, str],
    database: Database,
    customer_overrides: dict[str, Any],
    order_overrides: dict[str, Any],
    status: int,
    field: str,
) -> None:
    customer = await new_customer(gateway, office, **customer_overrides)

    response = await gateway.post(ORDERS, json=order_body(customer["id"], **order_overrides), headers=keyed(office))

    assert response.status_code == status, response.text
    assert fields(response) == {field}
    if status == 409:
        assert field in response.json()["detail"]
    assert await orders_of(gateway, office, customer["id"]) == []
    assert await order_events(database) == 0


async def test_every_bad_field_is_named_in_one_reply(gateway: httpx.AsyncClient, office: dict[str, str]) -> None:
    customer = await new_customer(gateway, office)
    body = order_body(
        customer["id"],
        scheduled_date=day(-1),
        window={"start": "12:00", "end": "09:00"},
        items=[{"product": "cylinder-20-regular", "quantity": 0}],
    )

    response = await gateway.post(ORDERS, json=body, headers=keyed(office))

    assert response.status_code == 422
    assert fields(response) == {"scheduled_date", "window.end", "items[0].quantity"}


# -------------------------------------------------------------------------------------------------------- read


async def test_list_filters_by_date_status_zone_and_customer(
    gateway: httpx.AsyncClient, office: dict[str, str]
) -> None:
    in_b = await new_customer(gateway, office, zone="B")
    in_d = await new_customer(gateway, office, zone="D")
    tomorrow_b = await new_order(gateway, office, in_b["id"])
    later_b = await new_order(gateway, office, in_b["id"], scheduled_date=day(2))
    tomorrow_d = await new_order(gateway, office, in_d["id"])
    await move(gateway, office, tomorrow_d["id"], "confirm")

    async def listed(**params: Any) -> list[str]:
        response = await gateway.get(ORDERS, params=params, headers=office)
        assert response.status_code == 200, response.text
        return [order["id"] for order in response.json()["items"]]

    assert await listed() == [tomorrow_b["id"], tomorrow_d["id"], later_b["id"]]
    assert await listed(date=day(1)) == [tomorrow_b["id"], tomorrow_d["id"]]
    assert await listed(status="confirmed") == [tomorrow_d["id"]]
    assert await listed(status=["pending", "confirmed"], date=day(2)) == [later_b["id"]]
    assert await listed(zone="D") == [tomorrow_d["id"]]
    assert await listed(customer_id=in_b["id"]) == [tomorrow_b["id"], later_b["id"]]
    assert await listed(customer_id=in_b["id"], date=day(2), status="pending", zone="B") == [later_b["id"]]


async def test_list_pages_with_a_cursor(gateway: httpx.AsyncClient, office: dict[str, str]) -> None:
    customer = await new_customer(gateway, office)
    made = [
        (await new_order(gateway, office, customer["id"], scheduled_date=day(offset)))["id"] for offset in (1, 2, 3)
    ]

    first = await gateway.get(ORDERS, params={"page_size": 2}, headers=office)
    second = await gateway.get(
        ORDERS, params={"page_size": 2, "page_token": first.json()["next_page_token"]}, headers=office
    )

    assert [order["id"] for order in first.json()["items"]] == made[:2]
    assert [order["id"] for order in second.json()["items"]] == made[2:]
    assert second.json()["next_page_token"] is None


async def test_list_with_an_unknown_status_or_bad_token_is_422(
    gateway: httpx.AsyncClient, office: dict[str, str]
) -> None:
    status = await gateway.get(ORDERS, params={"status": "lost"}, headers=office)
    token = await gateway.get(ORDERS, params={"page_token": "not-ours"}, headers=office)

    assert (status.status_code, token.status_code) == (422, 422)
    assert fields(status) == {"status"}
    assert fields(token) == {"page_token"}


async def test_unknown_order_is_404(gateway: httpx.AsyncClient, office: dict[str, str]) -> None:
    missing = await gateway.get(f"{ORDERS}/{uuid.uuid4()}", headers=office)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM


# --------------------------------------------------------------------------------------------------- lifecycle


async def test_order_goes_from_confirmed_to_delivered_with_proof(
    gateway: httpx.AsyncClient, office: dict[str, str]
) -> None:
    customer = await new_customer(gateway, office)
    order = await new_order(gateway, office, customer["id"])

    confirmed = await move(gateway, office, order["id"], "confirm")
    assigned = await move(gateway, office, order["id"], "assign")
    started = await move(gateway, office, order["id"], "start-delivery")
    photo = JPEG_MAGIC + b"\x00" * (1536 * 1024)  # a phone photo: its base64 is far longer than any typed text
    delivered = await gateway.post(
        f"{ORDERS}/{order['id']}/delivery",
        json=delivery_body(photo=base64.b64encode(photo).decode(), photo_content_type="image/jpeg"),
        headers=keyed(office),
    )

    assert [(o["status"], o["version"]) for o in (confirmed, assigned, started)] == [
        ("confirmed", 2),
        ("assigned", 3),
        ("in_delivery", 4),
    ]
    assert assigned["route_id"] == "R-01"
    assert delivered.status_code == 200, delivered.text
    final = delivered.json()
    assert (final["status"], final["version"]) == ("delivered", 5)
    proof = final["proof"]
    assert (proof["recipient_name"], proof["has_signature"], proof["has_photo"]) == ("林小姐", True, True)
    assert proof["delivered"] == [{"product": "cylinder-20-regular", "quantity": 2}]
    assert proof["empties_received"] == [{"product": "cylinder-20-regular", "quantity": 2}]
    assert (proof["residual_gas_kg"], proof["cash_collected"]) == (1.5, 1596)
    assert proof["delivered_at"] is not None
    assert (await gateway.get(f"{ORDERS}/{order['id']}", headers=office)).json() == final


async def test_repeating_a_delivery_with_the_same_key_changes_nothing(
    gateway: httpx.AsyncClient, office: dict[str, str]
) -> None:
    customer = await new_customer(gateway, office)
    order = await in_delivery(gateway, office, customer["id"])
    url, headers = f"{ORDERS}/{order['id']}/delivery", keyed(office)

    first = await gateway.post(url, json=delivery_body(), headers=headers)
    again = await gateway.post(url, json=delivery_body(), headers=headers)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.json()["version"] == order["version"] + 1


async def test_a_second_delivery_is_refused(gateway: httpx.AsyncClient, office: dict[str, str]) -> None:
    customer = await new_customer(gateway, office)
    order = await in_delivery(gateway, office, customer["id"])
    url, headers = f"{ORDERS}/{order['id']}/delivery", keyed(office)
    await gateway.post(url, json=delivery_body(), headers=headers)

    same_key_other_proof = await gateway.post(url, json=delivery_body(cash_collected=0), headers=headers)
    other_key = await gateway.post(url, json=delivery_body(), headers=keyed(office))

    assert (same_key_other_proof.status_code, other_key.status_code) == (409, 409)
    assert fields(same_key_other_proof) == {"Idempotency-Key"}
    assert fields(other_key) == {"status"}
    kept = (await gateway.get(f"{ORDERS}/{order['id']}", headers=office)).json()
    assert kept["proof"]["cash_collected"] == 1596


async def test_confirming_a_delivered_order_is_409_naming_both_states(
    gateway: httpx.AsyncClient, office: dict[str, str]
) -> None:
    customer = await new_customer(gateway, office)
    order = await in_delivery(gateway, office, customer["id"])
    await gateway.post(f"{ORDERS}/{order['id']}/delivery", json=delivery_body(), headers=keyed(office))

    refused = await gateway.post(f"{ORDERS}/{order['id']}/confirm", headers=office)

    assert refused.status_code == 409
    assert fields(refused) == {"status"}
    detail = refused.json()["detail"]
    assert "delivered" in detail
    assert "confirmed" in detail
    assert (await gateway.get(f"{ORDERS}/{order['id']}", headers=office)).json()["status"] == "delivered"


async def test_cancel_records_the_reason(gateway: httpx.AsyncClient, office: dict[str, str]) -> None:
    customer = await new_customer(gateway, office)
    order = await new_order(gateway, office, customer["id"])
    url = f"{ORDERS}/{order['id']}/cancel"

    without_reason = await gateway.post(url, json={"reason": ""}, headers=office)
    cancelled = await gateway.post(url, json={"reason": "客戶改天再訂"}, headers=office)

    assert without_reason.status_code == 422
    assert fields(without_reason) == {"reason"}
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["cancel_reason"]) == ("cancelled", "客戶改天再訂")


async def test_failure_at_the_door_records_the_reason(gateway: httpx.AsyncClient, office: dict[str, str]) -> None:
    customer = await new_customer(gateway, office)
    order = await in_delivery(gateway, office, customer["id"])
    url, headers = f"{ORDERS}/{order['id']}/failure", keyed(office)
    visit = {"reason": "not_home", "notes": "按電鈴無人應"}

    unknown_reason = await gateway.post(url, json={"reason": "on_holiday"}, headers=keyed(office))
    failed = await gateway.post(url, json=visit, headers=headers)
    repeated = await gateway.post(url, json=visit, headers=headers)
    delivered_after = await gateway.post(
        f"{ORDERS}/{order['id']}/delivery", json=delivery_body(), headers=keyed(office)
    )

    assert unknown_reason.status_code == 422
    assert fields(unknown_reason) == {"reason"}
    assert failed.status_code == 200, failed.text
    assert (failed.json()["status"], failed.json()["failure_reason"]) == ("failed", "not_home")
    assert repeated.status_code == 200
    assert repeated.json() == failed.json()
    assert delivered_after.status_code == 409
    assert fields(delivered_after) == {"status"}


# --------------------------------------------------------------------------------------------- delivery proof


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param(
            {
                "photo": base64.b64encode(JPEG_MAGIC + b"\x00" * (2 * 1024 * 1024)).decode(),
                "photo_content_type": "image/jpeg",
            },
            "proof.photo",
            id="photo-over-2-MB",
        ),
        pytest.param(
            {"signature_png": base64.b64encode(JPEG_MAGIC + png()[8:]).decode()},
            "proof.signature_png",
            id="signature-not-png",
        ),
        pytest.param({"signature_png": "not base64!"}, "signature_png", id="signature-not-base64"),
        pytest.param(
            {"photo": base64.b64encode(png()).decode(), "photo_content_type": "image/gif"},
            "proof.photo_content_type",
            id="photo-type-not-allowed",
        ),
    ],
)
async def test_bad_proof_images_are_422_and_the_order_stays_in_delivery(
    gateway: httpx.AsyncClient, office: dict[str, str], overrides: dict[str, Any], field: str
) -> None:
    customer = await new_customer(gateway, office)
    order = await in_delivery(gateway, office, customer["id"])

    refused = await gateway.post(
        f"{ORDERS}/{order['id']}/delivery", json=delivery_body(**overrides), headers=keyed(office)
    )

    assert refused.status_code == 422, refused.text
    assert fields(refused) == {field}
    assert (await gateway.get(f"{ORDERS}/{order['id']}", headers=office)).json()["status"] == "in_delivery"


# ------------------------------------------------------------------------------------------------------- roles


async def test_customer_sees_their_own_order_and_not_anothers(
    gateway: httpx.AsyncClient, office: dict[str, str], tokens: dict[str, str]
) -> None:
    own_customer = await new_customer(gateway, office, code="1000001")
    other_customer = await new_customer(gateway, office)
    own = await new_order(gateway, office, own_customer["id"])
    other = await new_order(gateway, office, other_customer["id"])
    customer = bearer(tokens["customer"])

    mine = await gateway.get(f"{ORDERS}/{own['id']}", headers=customer)
    theirs = await gateway.get(f"{ORDERS}/{other['id']}", headers=customer)

    assert mine.status_code == 200
    assert mine.json() == own
    assert theirs.status_code == 404
    assert theirs.headers["content-type"] == PROBLEM
    assert other["number"] not in theirs.text


async def test_a_driver_cannot_take_or_confirm_orders(
    gateway: httpx.AsyncClient, office: dict[str, str], tokens: dict[str, str]
) -> None:
    # What a driver may do to the orders of their own route: test_object_access.py.
    driver = bearer(tokens["driver"])
    customer = await new_customer(gateway, office)
    order = await new_order(gateway, office, customer["id"])

    create = await gateway.post(ORDERS, json=order_body(customer["id"], scheduled_date=day(2)), headers=keyed(driver))
    confirm = await gateway.post(f"{ORDERS}/{order['id']}/confirm", headers=driver)

    assert (create.status_code, confirm.status_code) == (403, 403)
    assert [o["id"] for o in await orders_of(gateway, office, customer["id"])] == [order["id"]]
    assert (await gateway.get(f"{ORDERS}/{order['id']}", headers=office)).json()["status"] == "pending"


# ------------------------------------------------------------------------------------------------ refill list


async def test_due_list_shows_a_delivered_customer_once_their_gas_runs_out(
    gateway: httpx.AsyncClient, office: dict[str, str]
) -> None:
    customer = await new_customer(gateway, office, zone="C")
    order = await in_delivery(gateway, office, customer["id"])
    await gateway.post(f"{ORDERS}/{order['id']}/delivery", json=delivery_body(), headers=keyed(office))

    # Delivered today with a 9-day cycle: not due tomorrow, overdue in 20 days.
    soon = await gateway.get(f"{ORDERS}/due", params={"date": day(1)}, headers=office)
    later = await gateway.get(f"{ORDERS}/due", params={"date": day(20), "zone": "C"}, headers=office)
    undated = await gateway.get(f"{ORDERS}/due", headers=office)

    assert soon.status_code == later.status_code == 200
    assert soon.json() == {"date": day(1), "customers": []}
    assert later.json()["date"] == day(20)
    [entry] = later.json()["customers"]
    assert (entry["customer_id"], entry["customer_code"], entry["zone"]) == (customer["id"], customer["code"], "C")
    assert entry["reason"] == "overdue"
    assert entry["days_overdue"] > 0
    assert entry["explanation"]
    assert entry["suggested"]
    assert all(item["quantity"] > 0 for item in entry["suggested"])
    assert undated.status_code == 422
    assert fields(undated) == {"date"}
