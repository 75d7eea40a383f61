"""The 14 delivery zones, read from data (services/platform/data/zones.csv), never hard-coded."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ZONES_FILE = Path(__file__).parent / "data" / "zones.csv"


@dataclass(frozen=True)
class Zone:
    code: str
    name_zh: str
    latitude: float
    longitude: float
    customer_share: float


@cache
def load_zones() -> dict[str, Zone]:
    with ZONES_FILE.open(encoding="utf-8") as handle:
        return {
            row["code"]: Zone(
                row["code"],
                row["name_zh"],
                float(row["latitude"]),
                float(row["longitude"]),
                float(row["customer_share"]),
            )
            for row in csv.DictReader(handle)
        }


def zone_names() -> dict[str, str]:
    """The zone table as code → Chinese name (``{"A": "瑞光", …}``), as migration-sync's mapping reads zones."""
    return {code: zone.name_zh for code, zone in load_zones().items()}
