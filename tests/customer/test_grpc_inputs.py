"""Whatever a caller inside the cluster sends the customer service, it is refused or answered, never a crash."""

from __future__ import annotations

from luckygas.customer.v1 import customer_pb2 as pb

from tests.conftest import CUSTOMER_SERVICE
from tests.customer.factories import customer_fields
from tests.platform.grpc_inputs import bad_values_are_named, no_request_crashes, one_field_off


async def test_no_request_crashes_the_customer_service(customer_server: int) -> None:
    await no_request_crashes(customer_server, CUSTOMER_SERVICE)


async def test_one_field_off_in_a_good_request_is_refused_not_a_crash(customer_server: int) -> None:
    await one_field_off(
        customer_server,
        CUSTOMER_SERVICE,
        {"CreateCustomer": lambda: pb.CreateCustomerRequest(customer=customer_fields())},
    )


async def test_a_control_character_or_non_finite_number_is_refused_naming_its_field(customer_server: int) -> None:
    await bad_values_are_named(customer_server, CUSTOMER_SERVICE)
