"""Lucky Gas's problem-building conventions: loads, service times, and a vehicle cost that puts fleet size first."""

from __future__ import annotations

import pytest

from services.routing.solver import luckygas
from tests.routing.solver.factories import hours, motorcycle, truck


def test_a_delivery_loads_its_cylinders_and_their_gross_weight() -> None:
    assert luckygas.demand({20: 2, 50: 1}) == (0, 0, 0, 2, 1, 2 * 30 + 75)
    assert len(luckygas.DIMENSIONS) == len(luckygas.demand({4: 1}))


def test_an_unknown_cylinder_size_is_refused() -> None:
    with pytest.raises(ValueError, match="12"):
        luckygas.demand({12: 1})


def test_service_time_is_five_minutes_plus_two_a_cylinder_and_three_more_a_50kg_one() -> None:
    assert luckygas.service_seconds({20: 2, 50: 1}) == 300 + 3 * 120 + 180


def test_the_vehicle_cost_exceeds_everything_the_fleet_could_drive() -> None:
    fleet = [truck("t1"), truck("t2", max_driving_seconds=None, shift_end=hours(12)), motorcycle("m1")]

    cost = luckygas.fewest_vehicles_first(fleet)

    assert cost > 8 * 3600 + 4 * 3600 + 8 * 3600
