"""The dated price list: the list in force on an order's date prices it; taken orders keep their prices."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from luckygas.customer.v1 import customer_pb2_grpc
from luckygas.order.v1 import order_pb2 as pb
from luckygas.order.v1 import order_pb2_grpc

from services.order.price_lists import PriceLists
from services.order.pricing import vat_on
from services.order.schemas import PriceEntry
from services.platform.database import Database
from services.platform.errors import InvalidArgument
from services.platform.products import PRODUCTS
from tests.order.factories import create_customer, create_request, day, today

Orders = order_pb2_grpc.OrderServiceStub
Customers = customer_pb2_grpc.CustomerServiceStub


@pytest.mark.parametrize(("amount", "vat"), [(0, 0), (209, 10), (210, 11), (230, 12), (1520, 76), (1720, 86)])
def test_vat_is_five_percent_rounded_half_up(amount: int, vat: int) -> None:
    assert vat_on(amount) == vat


@pytest.fixture
def price_lists(order_database: Database) -> PriceLists:
    return PriceLists(order_database)


async def test_the_demo_list_prices_every_product(orders: Orders) -> None:
    price_list = await orders.GetPriceList(pb.GetPriceListRequest())

    prices = {price.product: price for price in price_list.prices}
    assert set(prices) == set(PRODUCTS)
    assert (prices["cylinder-20-regular"].unit_price, prices["cylinder-20-regular"].unit) == (760, "cylinder")
    assert (prices["flow-50-regular"].unit_price, prices["flow-50-regular"].unit) == (36, "kg")
    assert price_list.urgent_surcharge == 200
    assert price_list.effective_from <= today().isoformat()


async def test_a_price_change_applies_from_its_date_and_taken_orders_keep_their_prices(
    orders: Orders, customers: Customers, price_lists: PriceLists
) -> None:
    customer = await create_customer(customers)
    taken_before = await orders.CreateOrder(create_request(customer.id, scheduled_date=day(2)))
    current = await price_lists.on(today())
    raised = dict(current.prices)
    raised["cylinder-20-regular"] = PriceEntry(800, 1500, "cylinder")

    await price_lists.add(today() + timedelta(days=2), 250, raised, note="2026 漲價")

    day_before = await orders.CreateOrder(create_request(customer.id, scheduled_date=day(1)))
    from_the_date = await orders.CreateOrder(create_request(customer.id, scheduled_date=day(2), additional=True))
    assert day_before.items[0].unit_price == 760
    assert from_the_date.items[0].unit_price == 800
    assert (await orders.GetOrder(pb.GetOrderRequest(id=taken_before.id))).items[0].unit_price == 760
    assert (await orders.GetPriceList(pb.GetPriceListRequest(date=day(1)))).urgent_surcharge == 200
    assert (await orders.GetPriceList(pb.GetPriceListRequest(date=day(9)))).effective_from == day(2)


async def test_a_price_list_must_price_every_product(price_lists: PriceLists) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await price_lists.add(
            today() + timedelta(days=3), 200, {"cylinder-20-regular": PriceEntry(800, 1500, "cylinder")}
        )
    assert "prices[happy-4]" in {violation.field for violation in raised.value.violations}


async def test_no_list_before_the_first_one(orders: Orders) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await orders.GetPriceList(pb.GetPriceListRequest(date="2000-01-01"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
