"""Synthetic commercial customers for demos and load tests, drawn to follow the distributions in docs/domain.md.

Pure and deterministic (no database): the customer service seeds them (services/customer/demo.py) and migration-sync
writes the very same customers into the office's legacy exports (services/migration/demo_exports.py), so the
backfill finds the two sides equal. The same seed always gives the same list.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from services.platform.errors import InvalidArgument
from services.platform.products import PRODUCTS
from services.platform.taiwan import validate_tax_id
from services.platform.zones import Zone, load_zones

HOURLY_WINDOW_COUNT = 12  # 08-09 .. 19-20


@dataclass
class DemoCustomer:
    """A demo customer, field for field the customer service's ``CustomerFields`` (its schemas.py)."""

    code: str = ""
    short_name: str = ""
    invoice_title: str = ""
    tax_id: str = ""
    phones: list[str] = field(default_factory=list)
    address: str = ""
    postal_code: str = ""
    zone: str = ""
    latitude: float | None = None
    longitude: float | None = None
    segment: str = ""
    hourly_windows: list[bool] = field(default_factory=list)
    slot_code: int | None = None
    rest_days: str = ""
    vehicle_requirement: str = ""
    cylinders: dict[str, int] = field(default_factory=dict)
    spare_cylinders: int = 0
    manifolded_cylinders: int = 0
    consumption_kg_per_day: float = 0.0
    max_cycle_days: int = 0
    slip_days: int = 0
    pricing_method: str = ""
    payment_terms: str = ""
    subscription: bool = False
    alert_device: bool = False
    credit_limit: int = 0
    blocked: bool = False
    notes: str = ""


DEMO_SEED = 20261124
DEFAULT_COUNT = 1300
FIRST_CODE = 1_000_001  # the gateway's demo customer login is bound to this code
LAST_CODE = 9_999_999

T = TypeVar("T")

# --- Distributions (docs/domain.md#customers and #products-and-prices; weights need not sum to 100) -------------

SEGMENT_WEIGHTS = {
    "ordinary": 72,
    "night_market": 8,
    "market": 7,
    "school": 5,
    "food_truck": 4,
    "banquet_caterer": 4,
}
# Legacy slot code: 0 all day, 1 morning, 2 afternoon, 3 evening, None unset.
SLOT_WEIGHTS: dict[int | None, float] = {0: 33, 1: 30, 2: 23, 3: 3, None: 11}
SLOT_OPEN_HOURS: dict[int, range] = {1: range(8, 12), 2: range(13, 17), 3: range(16, 20)}
FIRST_WINDOW_HOUR = 8
VEHICLE_SHARE = {"car": 0.83, "motorcycle": 0.15, "either": 0.02}
# Cash 51% / monthly 48%; validation knows no third term, so the leftover 1% is split between the two pro rata.
MONTHLY_SHARE = 0.485
ALERT_DEVICE_SHARE = 0.63
SUBSCRIPTION_SHARE = 0.10
# Probability of a 統一編號 (a company) by segment; companies get an invoice title and lean to monthly accounts.
COMPANY_SHARE = {
    "ordinary": 0.45,
    "night_market": 0.15,
    "market": 0.25,
    "school": 1.0,
    "food_truck": 0.20,
    "banquet_caterer": 0.70,
}
MONTHLY_SHARE_OF_COMPANIES = 0.75
_COMPANIES = sum(COMPANY_SHARE[segment] * weight for segment, weight in SEGMENT_WEIGHTS.items()) / sum(
    SEGMENT_WEIGHTS.values()
)
# Whatever share of the others keeps the overall monthly share at MONTHLY_SHARE.
MONTHLY_SHARE_OF_OTHERS = (MONTHLY_SHARE - _COMPANIES * MONTHLY_SHARE_OF_COMPANIES) / (1 - _COMPANIES)
# Flow (metered) installations by segment: about 480 of 1,270; stalls and trucks cannot have one.
FLOW_SHARE = {
    "ordinary": 0.43,
    "night_market": 0.0,
    "market": 0.20,
    "school": 0.60,
    "food_truck": 0.0,
    "banquet_caterer": 0.50,
}
# Rest days in the legacy language, by segment.
REST_DAYS_WEIGHTS: dict[str, dict[str, float]] = {
    "ordinary": {"": 50, "7": 13, "1": 6, "1.2": 6, "Red": 8, "7.Red": 4, "7(初一十五)": 5, "6.7": 4, "10.20.30": 4},
    "night_market": {"": 60, "1.2": 20, "Red": 10, "7(初一十五)": 10},
    "market": {"": 50, "1": 15, "1.2": 10, "7(初一十五)": 15, "10.20.30": 10},
    "school": {"6.7.Red": 85, "6.7": 15},
    "food_truck": {"": 60, "7": 20, "Red": 10, "1.2": 10},
    "banquet_caterer": {"": 80, "Red": 10, "7(初一十五)": 10},
}

# Cylinder-priced customers: product → (weight, quantity distribution). Calibrated, with 50 kg barred from stalls,
# food trucks and motorcycle lanes (see _cylinders), so that 1,270 customers hold about 1,150 cylinder-20-regular
# at 590 of them, 140 × 50 kg, 85 × 好運16, 84 × 16 kg and 83 × 4 kg (partly as a second, counter-stove cylinder).
QUANTITY_SMALL = {1: 35, 2: 45, 3: 12, 4: 5, 5: 2, 6: 1}
QUANTITY_50 = {1: 25, 2: 35, 3: 25, 4: 15}
QUANTITY_16 = {1: 35, 2: 45, 3: 15, 4: 5}
QUANTITY_4 = {1: 30, 2: 40, 3: 20, 4: 10}
CYLINDER_PRODUCTS: dict[str, tuple[float, Mapping[int, float]]] = {
    "cylinder-20-regular": (560, QUANTITY_SMALL),
    "cylinder-50-regular": (88, QUANTITY_50),
    "cylinder-16-lucky": (45, QUANTITY_16),
    "cylinder-16-regular": (44, QUANTITY_16),
    "happy-4": (13, QUANTITY_4),
    "cylinder-4-regular": (8, QUANTITY_4),
    "propane-20": (15, QUANTITY_SMALL),
}
SECOND_SMALL_CYLINDER_SHARE = 0.035  # a 幸福丸 4 kg for the counter stove next to the main cylinders
FLOW_PRODUCTS: dict[str, tuple[float, Mapping[int, float]]] = {
    "flow-50-regular": (75, {2: 35, 3: 25, 4: 25, 6: 15}),
    "flow-20-regular": (25, {2: 50, 3: 30, 4: 20}),
}
SPARE_WEIGHTS = {"cylinder": {0: 55, 1: 35, 2: 10}, "flow": {0: 70, 1: 20, 2: 10}}
MANIFOLDED_SHARE = 0.25  # of cylinder customers with two or more big cylinders

# Lognormal fits: mu = ln(median), sigma = ln(p90 / median) / z(0.90).
Z_90 = 1.2815515655446004
CONSUMPTION_MEDIAN, CONSUMPTION_P90 = 4.6, 17.8
CYCLE_MEDIAN, CYCLE_P90 = 11, 29
SLIP_MEDIAN, SLIP_P90 = 6, 18
# Big users refill more often and have less slack; a Gaussian copula keeps each marginal exact.
CYCLE_VS_CONSUMPTION = -0.5
SLIP_VS_CYCLE = 0.6
QUANTITY_VS_CONSUMPTION = 0.6
GAS_PRICE_TWD_PER_KG = 45  # only to size credit limits: about two months of gas, in NT$5,000 steps

# --- Places -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Town:
    """Where an address is: the town and its postal code, streets (or villages) and a word for shop names."""

    name: str
    postal_code: str
    streets: tuple[str, ...]
    name_piece: str
    weight: float = 1.0
    # Approximate centre when the town is not at its zone's centroid (otherwise None).
    centre: tuple[float, float] | None = None
    rural: bool = False  # 村/鄰 addresses rather than street numbers


CITY_STREETS = (
    "中華路一段", "中華路二段", "新生路", "正氣路", "正氣北路", "中山路", "博愛路", "四維路一段", "四維路二段",
    "四維路三段", "更生路", "更生北路", "傳廣路", "漢陽路", "漢陽北路", "中興路一段", "中興路二段", "開封街",
    "大同路", "光明路", "鐵花路", "連航路", "南京路", "寶桑路", "興安路", "志航路一段", "中正路", "仁愛路",
    "福建路", "浙江路", "杭州街", "桂林北路", "豐榮路",
)  # fmt: skip
CITY = Town("台東市", "950", CITY_STREETS, "台東")
# The outer lines (including K and Y, which are in 台東市 but outside the centre); the other zones are the city.
ZONE_TOWNS: dict[str, tuple[Town, ...]] = {
    "F": (Town("成功鎮", "961", ("中山東路", "中華路", "大同路", "民權路"), "成功"),),
    "G": (Town("東河鄉", "959", ("都蘭村",), "都蘭", rural=True),),
    "H": (Town("鹿野鄉", "955", ("鹿野村", "龍田村", "永安村"), "鹿野", rural=True),),
    "I": (
        Town("池上鄉", "958", ("中山路", "中正路", "中東一路"), "池上", weight=0.75),
        Town("關山鎮", "956", ("中華路", "博愛路", "中正路"), "關山", weight=0.25, centre=(23.047, 121.163)),
    ),
    "J": (
        Town("台東市", "950", ("知本路二段", "知本路三段"), "知本", weight=0.5),
        Town("卑南鄉", "954", ("溫泉村",), "知本", weight=0.2, centre=(22.697, 121.015), rural=True),
        Town("太麻里鄉", "963", ("太麻里村", "大王村"), "太麻里", weight=0.3, centre=(22.615, 121.005), rural=True),
    ),
    "K": (Town("台東市", "950", ("大學路一段", "大學路二段", "知本路一段"), "東大"),),
    "L": (Town("大武鄉", "965", ("尚武村", "大武村"), "大武", rural=True),),
    "Y": (Town("台東市", "950", ("松江路一段", "松江路二段"), "富岡"),),
}
CITY_JITTER_KM, OUTER_JITTER_KM = 0.6, 1.5
CITY_NAME_PIECES = ("台東", "鐵花", "馬蘭", "寶桑", "新生", "中華", "正氣", "四維", "豐年", "更生", "漢中", "光明")
SCHOOL_PLACES = ("馬蘭", "寶桑", "新生", "豐年", "豐里", "復興", "康樂", "東海", "光明", "豐源", "岩灣", "建和")
OWNER_PIECES = (
    "阿美", "老王", "阿明", "小林", "阿嬌", "阿財", "陳家", "林記", "張記", "黃媽媽", "阿德", "阿雄",
    "秀英", "阿珠", "老李", "大胖", "阿卿", "金龍", "順發", "美珍", "春香", "榮記", "阿忠", "好朋友",
)  # fmt: skip
SHOP_KINDS = {
    "ordinary": (
        "小吃", "麵店", "早餐店", "熱炒", "便當", "火鍋", "餐廳", "牛肉麵", "自助餐", "海產店", "滷味", "羊肉爐",
        "薑母鴨", "米苔目", "飯館", "烘焙坊", "咖啡館", "豆花", "鍋燒意麵", "臭豆腐",
    ),
    "night_market": ("鹽酥雞", "蔥油餅", "雞蛋糕", "烤玉米", "臭豆腐", "章魚燒", "大腸包小腸", "炸物"),
    "market": ("肉圓", "粿店", "熟食攤", "米粉湯", "油飯", "麵攤", "豆漿"),
    "food_truck": ("餐車", "行動咖啡", "胖卡"),
    "banquet_caterer": ("總舖師", "辦桌", "外燴"),
}  # fmt: skip
SCHOOL_KINDS = (("國小", "國民小學", 70), ("國中", "國民中學", 25), ("高中", "高級中學", 5))
CITY_PHONE_PREFIXES = ("22", "23", "31", "32", "33", "34", "35", "36")
OUTER_PHONE_PREFIXES = ("51", "53", "55", "78", "81", "85", "86")
NOTES = {"motorcycle": "巷弄狹窄，請機車配送", "call_first": "送貨前請先來電"}
CALL_FIRST_SHARE = 0.2


def generate_customers(seed: int, count: int = DEFAULT_COUNT) -> list[DemoCustomer]:
    """``count`` synthetic commercial customers; the same seed always gives the same list."""
    if count < 0:
        raise InvalidArgument.for_field("count", "must not be negative")
    rng = random.Random(seed)  # nosec B311 # seeded demo customers, the same for a seed
    zones = load_zones()
    zone_codes = _apportion({code: zone.customer_share for code, zone in zones.items()}, count)
    rng.shuffle(zone_codes)
    city_share = sum(zone.customer_share for code, zone in zones.items() if code not in ZONE_TOWNS) / sum(
        zone.customer_share for zone in zones.values()
    )
    used_tax_ids: set[str] = set()
    customers = []
    code = FIRST_CODE
    for index, zone_code in enumerate(zone_codes):
        if index:
            code += 1 if rng.random() < 0.7 else rng.randint(2, 12)  # closed accounts leave gaps
        if code > LAST_CODE:
            raise InvalidArgument.for_field("count", f"{count} customers do not fit in 7-digit codes")
        customers.append(_customer(rng, str(code), zones[zone_code], city_share, used_tax_ids))
    return customers


def _customer(rng: random.Random, code: str, zone: Zone, city_share: float, used_tax_ids: set[str]) -> DemoCustomer:
    outer = zone.code in ZONE_TOWNS
    town = _weighted(rng, {town: town.weight for town in ZONE_TOWNS.get(zone.code, (CITY,))})
    segment_weights = dict(SEGMENT_WEIGHTS)
    if outer:
        segment_weights["night_market"] = 0  # the night markets are in the city
    segment = _weighted(rng, segment_weights)

    # Motorcycle-only customers sit in the city's narrow lanes, so the city carries the whole 15%.
    either = VEHICLE_SHARE["either"]
    motorcycle = 0.0 if outer else VEHICLE_SHARE["motorcycle"] / city_share
    vehicle = _weighted(rng, {"car": 1 - either - motorcycle, "motorcycle": motorcycle, "either": either})

    slot = _weighted(rng, SLOT_WEIGHTS)
    windows = _hourly_windows(rng, slot)
    rest_days = _weighted(rng, REST_DAYS_WEIGHTS[segment])

    z_consumption = rng.gauss(0.0, 1.0)
    z_cycle = _correlated(rng, z_consumption, CYCLE_VS_CONSUMPTION)
    z_slip = _correlated(rng, z_cycle, SLIP_VS_CYCLE)
    consumption = max(0.1, round(_lognormal(z_consumption, CONSUMPTION_MEDIAN, CONSUMPTION_P90), 1))
    max_cycle_days = min(366, max(1, round(_lognormal(z_cycle, CYCLE_MEDIAN, CYCLE_P90))))
    slip_days = min(366, max(0, round(_lognormal(z_slip, SLIP_MEDIAN, SLIP_P90))))
    size_quantile = _normal_cdf(_correlated(rng, z_consumption, QUANTITY_VS_CONSUMPTION))

    flow = rng.random() < FLOW_SHARE[segment]
    cylinders, manifolded = _cylinders(rng, segment, vehicle, flow, size_quantile)
    spare = _weighted(rng, SPARE_WEIGHTS["flow" if flow else "cylinder"])

    company = rng.random() < COMPANY_SHARE[segment]
    short_name, invoice_title = _names(rng, segment, town, company)
    tax_id = _tax_id(rng, used_tax_ids) if company else ""
    monthly = rng.random() < (MONTHLY_SHARE_OF_COMPANIES if company else MONTHLY_SHARE_OF_OTHERS)
    credit_limit = _credit_limit(consumption) if monthly else 0
    latitude, longitude = _near(rng, town.centre or (zone.latitude, zone.longitude), outer)
    notes = []
    if vehicle == "motorcycle":
        notes.append(NOTES["motorcycle"])
    if rng.random() < CALL_FIRST_SHARE:
        notes.append(NOTES["call_first"])

    return DemoCustomer(
        code=code,
        short_name=short_name,
        invoice_title=invoice_title,
        tax_id=tax_id,
        phones=_phones(rng, outer),
        address=_address(rng, segment, town, outer),
        postal_code=town.postal_code,
        zone=zone.code,
        latitude=latitude,
        longitude=longitude,
        segment=segment,
        hourly_windows=windows,
        slot_code=slot,
        rest_days=rest_days,
        vehicle_requirement=vehicle,
        cylinders=cylinders,
        spare_cylinders=spare,
        manifolded_cylinders=manifolded,
        consumption_kg_per_day=consumption,
        max_cycle_days=max_cycle_days,
        slip_days=slip_days,
        pricing_method="flow" if flow else "cylinder",
        payment_terms="monthly" if monthly else "cash",
        subscription=rng.random() < SUBSCRIPTION_SHARE,
        alert_device=rng.random() < ALERT_DEVICE_SHARE,
        credit_limit=credit_limit,
        blocked=rng.random() < (0.03 if monthly else 0.005),  # mostly monthly accounts behind on payment
        notes="；".join(notes),
    )


def _hourly_windows(rng: random.Random, slot: int | None) -> list[bool]:
    hours = range(FIRST_WINDOW_HOUR, FIRST_WINDOW_HOUR + HOURLY_WINDOW_COUNT)
    if slot is None:
        return [True] * HOURLY_WINDOW_COUNT
    if slot == 0:
        lunch_closed = rng.random() < 0.2  # some kitchens take no delivery during the 12-13 rush
        return [not (lunch_closed and hour == 12) for hour in hours]
    return [hour in SLOT_OPEN_HOURS[slot] for hour in hours]


def _cylinders(
    rng: random.Random, segment: str, vehicle: str, flow: bool, size_quantile: float
) -> tuple[dict[str, int], int]:
    # 50 kg cylinders go by truck to fixed premises: not to motorcycle-only lanes, stalls or food trucks.
    no_big = vehicle == "motorcycle" or segment in ("night_market", "food_truck")
    table = FLOW_PRODUCTS if flow else CYLINDER_PRODUCTS
    allowed = {
        product: weight for product, (weight, _) in table.items() if not (no_big and PRODUCTS[product].size_kg == 50)
    }
    product = _weighted(rng, allowed)
    quantity = _quantile(table[product][1], size_quantile)
    cylinders = {product: quantity}
    if flow:
        return cylinders, quantity  # a metered installation is one manifold
    big = PRODUCTS[product].size_kg >= 16
    manifolded = quantity if big and quantity >= 2 and rng.random() < MANIFOLDED_SHARE else 0
    if big and rng.random() < SECOND_SMALL_CYLINDER_SHARE:
        cylinders["happy-4"] = rng.randint(1, 2)
    return cylinders, manifolded


def _names(rng: random.Random, segment: str, town: Town, company: bool) -> tuple[str, str]:
    if segment == "school":
        place = rng.choice(SCHOOL_PLACES) if town is CITY else town.name_piece
        short, full = _weighted(rng, {(short, full): weight for short, full, weight in SCHOOL_KINDS})
        return f"{place}{short}", f"臺東縣{town.name.replace('台', '臺')}{place}{full}"
    pieces = CITY_NAME_PIECES if town is CITY else (town.name_piece,)
    piece = rng.choice(OWNER_PIECES) if rng.random() < 0.6 else rng.choice(pieces)
    name = f"{piece}{rng.choice(SHOP_KINDS[segment])}"
    if segment == "night_market" and rng.random() < 0.3:
        name += "夜市攤"
    if not company:
        return name, ""
    return name, f"{name}{'有限公司' if rng.random() < 0.6 else '商行'}"


def _tax_id(rng: random.Random, used: set[str]) -> str:
    """A fresh 8-digit 統一編號 that passes the checksum (drawn until one does; about one in five)."""
    while True:
        candidate = f"{rng.randrange(10_000_000, 100_000_000):08d}"
        if candidate in used:
            continue
        try:
            validate_tax_id(candidate)
        except InvalidArgument:
            continue
        used.add(candidate)
        return candidate


def _phones(rng: random.Random, outer: bool) -> list[str]:
    prefixes = OUTER_PHONE_PREFIXES if outer else CITY_PHONE_PREFIXES
    # Stored the way validation normalises them: digits only (089 + 6 for Taitung, 09 + 8 for mobiles).
    landline = f"089{rng.choice(prefixes)}{rng.randrange(10_000):04d}"
    mobile = f"09{rng.randrange(100_000_000):08d}"
    kind = _weighted(rng, {"landline": 35, "mobile": 35, "both": 30})
    return {"landline": [landline], "mobile": [mobile], "both": [landline, mobile]}[kind]


def _address(rng: random.Random, segment: str, town: Town, outer: bool) -> str:
    if town is CITY and segment == "night_market":
        market = rng.choice(("鐵花村夜市", "觀光夜市"))
        return f"台東市{market} {rng.choice('ABCDEF')}{rng.randint(1, 40)} 攤"
    if town is CITY and segment == "market" and rng.random() < 0.6:
        return f"台東市中央市場 {rng.randint(1, 120)} 號攤"
    county = "台東縣" if outer and rng.random() < 0.4 else ""
    place = rng.choice(town.streets)
    if town.rural:
        return f"{county}{town.name}{place}{rng.randint(1, 30)}鄰{rng.randint(1, 300)}號"
    lane = f"{rng.randint(1, 400)}巷" if rng.random() < 0.25 else ""
    floor = f"{rng.randint(2, 5)}樓" if rng.random() < 0.05 else ""
    return f"{county}{town.name}{place}{lane}{rng.randint(1, 600)}號{floor}"


def _near(rng: random.Random, centre: tuple[float, float], outer: bool) -> tuple[float, float]:
    sigma_km = OUTER_JITTER_KM if outer else CITY_JITTER_KM
    latitude, longitude = centre
    north_km, east_km = rng.gauss(0.0, sigma_km), rng.gauss(0.0, sigma_km)
    return (
        round(latitude + north_km / 110.574, 6),
        round(longitude + east_km / (111.320 * math.cos(math.radians(latitude))), 6),
    )


def _credit_limit(consumption_kg_per_day: float) -> int:
    two_months = consumption_kg_per_day * 60 * GAS_PRICE_TWD_PER_KG
    return int(min(500_000, max(10_000, math.ceil(two_months / 5_000) * 5_000)))


# --- Sampling helpers ---------------------------------------------------------------------------------------


def _apportion(shares: Mapping[T, float], count: int) -> list[T]:
    """Exactly ``count`` items split by ``shares`` (largest remainder), so small zones appear at their share."""
    total = sum(shares.values())
    exact = {key: count * share / total for key, share in shares.items()}
    counts = {key: math.floor(value) for key, value in exact.items()}
    by_remainder = sorted(exact, key=lambda key: exact[key] - counts[key], reverse=True)
    for key in by_remainder[: count - sum(counts.values())]:
        counts[key] += 1
    return [key for key, n in counts.items() for _ in range(n)]


def _weighted(rng: random.Random, weights: Mapping[T, float]) -> T:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _quantile(weights: Mapping[int, float], u: float) -> int:
    """The value at cumulative share ``u`` of a discrete distribution (values in ascending order)."""
    total = sum(weights.values())
    running = 0.0
    for value in sorted(weights):
        running += weights[value] / total
        if u <= running:
            return value
    return max(weights)


def _correlated(rng: random.Random, z: float, rho: float) -> float:
    return rho * z + math.sqrt(1 - rho * rho) * rng.gauss(0.0, 1.0)


def _normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def _lognormal(z: float, median: float, p90: float) -> float:
    return float(median * math.exp(z * math.log(p90 / median) / Z_90))


# --- Seeds --------------------------------------------------------------------------------------------------


def parse_seed_spec(seed_spec: str) -> int:
    """``demo`` is the standard data set; ``demo:<n>`` draws another one with seed ``n``."""
    name, separator, number = seed_spec.strip().partition(":")
    if name == "demo" and not separator:
        return DEMO_SEED
    if name == "demo" and number.strip().lstrip("-").isdigit():
        return int(number)
    raise InvalidArgument.for_field("seed", f"{seed_spec!r} is neither 'demo' nor 'demo:<number>'")
