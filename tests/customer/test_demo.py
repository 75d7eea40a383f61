"""The demo customer generator: deterministic, valid, and shaped like the business docs/domain.md describes."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable

import pytest

from services.customer.demo import DEMO_SEED, generate_customers, parse_seed_spec
from services.customer.schemas import CustomerFields
from services.customer.validation import validate
from services.platform.errors import InvalidArgument
from services.platform.products import PRODUCTS
from services.platform.taiwan import validate_tax_id
from services.platform.zones import load_zones

COUNT = 1300
TOWN_POSTAL_CODES = {
    "台東市": "950",
    "卑南鄉": "954",
    "鹿野鄉": "955",
    "關山鎮": "956",
    "池上鄉": "958",
    "東河鄉": "959",
    "成功鎮": "961",
    "長濱鄉": "962",
    "太麻里鄉": "963",
    "金峰鄉": "964",
    "大武鄉": "965",
    "達仁鄉": "966",
}
CITY_ZONES = ("A", "B", "C", "D", "E", "M")


@pytest.fixture(scope="module")
def demo() -> list[CustomerFields]:
    return generate_customers(DEMO_SEED, COUNT)


def share(customers: list[CustomerFields], predicate: Callable[[CustomerFields], bool]) -> float:
    return sum(1 for customer in customers if predicate(customer)) / len(customers)


def test_the_same_seed_gives_identical_customers() -> None:
    assert generate_customers(7, 300) == generate_customers(7, 300)


def test_different_seeds_give_different_customers() -> None:
    first, second = generate_customers(7, 300), generate_customers(8, 300)
    assert first != second
    assert sum(a.short_name != b.short_name for a, b in zip(first, second, strict=True)) > 200


def test_count_is_honoured() -> None:
    assert len(generate_customers(1, 0)) == 0
    assert len(generate_customers(1, 17)) == 17


@pytest.mark.parametrize("seed", [DEMO_SEED, 1, 2])
def test_every_customer_passes_validation_already_normalised(seed: int) -> None:
    for customer in generate_customers(seed, COUNT):
        assert validate(customer) == customer, customer.code


def test_codes_are_unique_seven_digits_and_start_with_the_gateway_demo_customer(demo: list[CustomerFields]) -> None:
    codes = [customer.code for customer in demo]
    assert len(set(codes)) == len(codes)
    assert codes[0] == "1000001"
    assert all(len(code) == 7 and code.isdigit() for code in codes)


def test_zone_shares_follow_the_zone_table(demo: list[CustomerFields]) -> None:
    zones = load_zones()
    total = sum(zone.customer_share for zone in zones.values())
    for code, zone in zones.items():
        assert share(demo, lambda c, code=code: c.zone == code) == pytest.approx(zone.customer_share / total, abs=0.01)


def test_slot_codes_follow_the_legacy_shares(demo: list[CustomerFields]) -> None:
    expected = {0: 0.33, 1: 0.30, 2: 0.23, 3: 0.03, None: 0.11}
    for slot, target in expected.items():
        tolerance = 0.04 if target > 0.2 else 0.02
        assert share(demo, lambda c, slot=slot: c.slot_code == slot) == pytest.approx(target, abs=tolerance), slot


def test_hourly_windows_agree_with_the_slot_code(demo: list[CustomerFields]) -> None:
    hours = range(8, 20)
    for customer in demo:
        open_hours = {hour for hour, is_open in zip(hours, customer.hourly_windows, strict=True) if is_open}
        if customer.slot_code is None:
            assert open_hours == set(hours)
        elif customer.slot_code == 0:
            assert open_hours >= set(hours) - {12}
        else:
            assert open_hours == set({1: range(8, 12), 2: range(13, 17), 3: range(16, 20)}[customer.slot_code])


def test_vehicle_requirements_follow_the_business(demo: list[CustomerFields]) -> None:
    assert share(demo, lambda c: c.vehicle_requirement == "car") == pytest.approx(0.83, abs=0.04)
    assert share(demo, lambda c: c.vehicle_requirement == "motorcycle") == pytest.approx(0.15, abs=0.03)
    assert share(demo, lambda c: c.vehicle_requirement == "either") == pytest.approx(0.02, abs=0.015)


def test_motorcycle_only_customers_are_in_the_city_and_get_no_50_kg_cylinders(demo: list[CustomerFields]) -> None:
    for customer in demo:
        if customer.vehicle_requirement == "motorcycle":
            assert customer.zone in CITY_ZONES
            assert all(PRODUCTS[product].size_kg < 50 for product in customer.cylinders)


def test_payment_terms_split_between_cash_and_monthly(demo: list[CustomerFields]) -> None:
    assert share(demo, lambda c: c.payment_terms == "cash") == pytest.approx(0.51, abs=0.04)
    assert share(demo, lambda c: c.payment_terms == "monthly") == pytest.approx(0.48, abs=0.04)


def test_only_monthly_accounts_have_a_credit_limit(demo: list[CustomerFields]) -> None:
    for customer in demo:
        assert (customer.credit_limit > 0) == (customer.payment_terms == "monthly")


def test_about_480_of_1270_customers_are_on_flow_billing_with_flow_products(demo: list[CustomerFields]) -> None:
    assert share(demo, lambda c: c.pricing_method == "flow") == pytest.approx(480 / 1270, abs=0.05)
    for customer in demo:
        methods = {PRODUCTS[product].method for product in customer.cylinders}
        assert methods == {customer.pricing_method}


def test_the_cylinder_mix_follows_the_business_with_20_kg_regular_dominating() -> None:
    # Four times the business's 1,270 customers, so the comparison is not at the mercy of one draw.
    customers = generate_customers(DEMO_SEED, 4 * 1270)
    holders = [c.cylinders["cylinder-20-regular"] for c in customers if "cylinder-20-regular" in c.cylinders]
    assert len(holders) == pytest.approx(4 * 590, rel=0.08)
    assert sum(holders) == pytest.approx(4 * 1150, rel=0.08)
    by_size: Counter[int] = Counter()
    for customer in customers:
        if customer.pricing_method == "cylinder":
            for product, quantity in customer.cylinders.items():
                by_size[PRODUCTS[product].size_kg] += quantity
    assert by_size[50] == pytest.approx(4 * 140, rel=0.2)
    assert by_size[16] == pytest.approx(4 * (85 + 84), rel=0.2)
    assert by_size[4] == pytest.approx(4 * 83, rel=0.2)


def test_alert_devices_are_on_about_63_percent(demo: list[CustomerFields]) -> None:
    assert share(demo, lambda c: c.alert_device) == pytest.approx(0.63, abs=0.04)


def test_consumption_and_refill_cycles_follow_the_lognormal_fits(demo: list[CustomerFields]) -> None:
    consumption = [c.consumption_kg_per_day for c in demo]
    assert statistics.median(consumption) == pytest.approx(4.6, rel=0.1)
    assert statistics.quantiles(consumption, n=10)[-1] == pytest.approx(17.8, rel=0.15)
    assert statistics.median(c.max_cycle_days for c in demo) == pytest.approx(11, abs=1)
    assert statistics.median(c.slip_days for c in demo) == pytest.approx(6, abs=1)


def test_companies_carry_a_valid_unique_tax_id_and_an_invoice_title(demo: list[CustomerFields]) -> None:
    tax_ids = [c.tax_id for c in demo if c.tax_id]
    assert len(set(tax_ids)) == len(tax_ids)
    assert 0.3 < len(tax_ids) / len(demo) < 0.6
    for customer in demo:
        if customer.tax_id:
            assert validate_tax_id(customer.tax_id) == customer.tax_id
            assert customer.invoice_title.endswith(("有限公司", "商行", "國民小學", "國民中學", "高級中學"))
        else:
            assert customer.invoice_title == ""


def test_postal_codes_match_the_town_in_the_address(demo: list[CustomerFields]) -> None:
    for customer in demo:
        address = customer.address.removeprefix("台東縣")
        town = next(town for town in TOWN_POSTAL_CODES if address.startswith(town))
        assert customer.postal_code == TOWN_POSTAL_CODES[town], customer.address


def test_city_customers_lie_near_their_zone_centroid(demo: list[CustomerFields]) -> None:
    zones = load_zones()
    for customer in demo:
        if customer.zone in CITY_ZONES:
            zone = zones[customer.zone]
            assert customer.latitude is not None
            assert customer.longitude is not None
            north_km = (customer.latitude - zone.latitude) * 110.574
            east_km = (customer.longitude - zone.longitude) * 111.320 * math.cos(math.radians(zone.latitude))
            assert math.hypot(north_km, east_km) < 4, customer.code


def test_every_customer_has_a_phone_and_some_have_both_kinds(demo: list[CustomerFields]) -> None:
    assert all(customer.phones for customer in demo)
    assert any(len(customer.phones) == 2 for customer in demo)


@pytest.mark.parametrize(("spec", "seed"), [("demo", DEMO_SEED), ("demo:7", 7), (" demo:42 ", 42)])
def test_seed_spec_names_the_seed(spec: str, seed: int) -> None:
    assert parse_seed_spec(spec) == seed


@pytest.mark.parametrize("spec", ["", "demo:", "demo:x", "prod", "demo7"])
def test_an_unknown_seed_spec_is_refused(spec: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_seed_spec(spec)
