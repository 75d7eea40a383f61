"""Distances on the Earth and straight-line travel times (services never import each other, so not routing's)."""

from __future__ import annotations

import math
from collections.abc import Iterable

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)


def haversine_m(latitude_1: float, longitude_1: float, latitude_2: float, longitude_2: float) -> float:
    """Great-circle distance in metres."""
    phi_1, phi_2 = math.radians(latitude_1), math.radians(latitude_2)
    d_phi = phi_2 - phi_1
    d_lambda = math.radians(longitude_2 - longitude_1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi_1) * math.cos(phi_2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def path_length_m(points: Iterable[tuple[float, float]]) -> float:
    """Length of a path through (latitude, longitude) points, in order."""
    total = 0.0
    previous: tuple[float, float] | None = None
    for point in points:
        if previous is not None:
            total += haversine_m(*previous, *point)
        previous = point
    return total


class StraightLineTravel:
    """Driving time as the straight line × a detour factor at an average speed."""

    def __init__(self, detour_factor: float, average_speed_kmh: float) -> None:
        self.detour_factor = detour_factor
        self.metres_per_second = average_speed_kmh * 1000 / 3600

    def seconds(self, latitude_1: float, longitude_1: float, latitude_2: float, longitude_2: float) -> float:
        distance = haversine_m(latitude_1, longitude_1, latitude_2, longitude_2) * self.detour_factor
        return distance / self.metres_per_second
