"""Turns legacy rows (the office's columns and conventions, ../shared/LEGACY.md) into the platform's records.

Pure functions, no I/O. A row is mapped whole or rejected whole: every problem found is listed as a ``Rejected``
naming the column, the value as written and why, so the office can fix the row and load it again.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TypedDict, TypeVar

from services.platform.errors import InvalidArgument
from services.platform.products import PRODUCTS
from services.platform.taiwan import excel_serial_to_date, normalise_phone, roc_to_date, validate_tax_id

Cell = str | int | float | Decimal | date | datetime | time | None

WINDOW_COLUMNS = (
    "8~9",
    "9~10",
    "10~11",
    "11~12",
    "12~13",
    "13~14",
    "14~15",
    "15~16",
    "16~17",
    "17~18",
    "18~19",
    "19~20",
)
# Customer product columns → (size, grade of the platform's code); a flow customer's columns are flow products.
CUSTOMER_PRODUCT_COLUMNS: dict[str, tuple[int, str]] = {
    "50KG": (50, "regular"),
    "20KG": (20, "regular"),
    "16KG": (16, "regular"),
    "10KG": (10, "regular"),
    "4KG": (4, "regular"),
    "營20": (20, "propane"),
    "營16": (16, "propane"),
    "好運16": (16, "lucky"),
    "好運20": (20, "lucky"),
    "瓶安桶10": (10, "safe"),
    "幸福丸": (4, "happy"),
}
DELIVERY_PRODUCT_COLUMNS: dict[str, str] = {
    "50公斤": "cylinder-50-regular",
    "丙烷20": "propane-20",
    "丙烷16": "propane-16",
    "20公斤": "cylinder-20-regular",
    "16公斤": "cylinder-16-regular",
    "10公斤": "cylinder-10-regular",
    "4公斤": "cylinder-4-regular",
    "好運桶16": "cylinder-16-lucky",
    "瓶安桶10": "cylinder-10-safe",
    "幸福丸4": "happy-4",
    "好運桶20": "cylinder-20-lucky",
}
DELIVERY_KG_COLUMNS: dict[str, str] = {
    "流量50公斤": "flow-50-regular",
    "流量20公斤": "flow-20-regular",
    "流量16公斤": "flow-16-regular",
    "流量好運20公斤": "flow-20-lucky",
    "流量好運16公斤": "flow-16-lucky",
}
# Empties taken back, per cylinder size (LEGACY.md: "returned empties per size where recorded").
RETURN_COLUMNS: dict[str, int] = {
    "回收50公斤": 50,
    "回收20公斤": 20,
    "回收16公斤": 16,
    "回收10公斤": 10,
    "回收4公斤": 4,
}
# Legacy status → (platform order status, failure reason).
STATUS_MAP: dict[str, tuple[str, str | None]] = {
    "PENDING": ("pending", None),
    "ASSIGNED": ("assigned", None),
    "IN_PROGRESS": ("in_delivery", None),
    "COMPLETED": ("delivered", None),
    "FAILED": ("failed", None),
    "CANCELLED": ("cancelled", None),
    "NOT_HOME": ("failed", "not_home"),
    "REFUSED": ("failed", "refused"),
}
SEGMENTS = {
    "": "ordinary",
    "夜市": "night_market",
    "學校": "school",
    "市場": "market",
    "餐車": "food_truck",
    "辦桌": "banquet_caterer",
}
VEHICLES = {0: "either", 1: "car", 2: "motorcycle"}
PRICING_METHODS = {"桶裝": "cylinder", "流量": "flow"}
PAYMENT_TERMS = {"現金": "cash", "收現": "cash", "月結": "monthly"}
# Zone names as the office has misspelt them → the name in the zone table; each entry is one seen in the data.
ZONE_TYPOS = {"鹿野縣": "鹿野線"}
FLAG_YES = frozenset({"V", "1", "是"})
FLAG_NO = frozenset({"", "0", "否"})
# What Excel writes into a cell whose formula failed. #DIV/0! in the consumption columns means "no history yet".
DIVISION_BY_ZERO = "#DIV/0!"
EXCEL_ERRORS = frozenset({"#DIV/0!", "#N/A", "#VALUE!", "#REF!", "#NUM!", "#NAME?", "#NULL!"})
CYLINDER_SIZES = (4, 10, 16, 20, 50)
MAX_PHONES = 5
MAX_ITEM_QUANTITY = 100  # docs/domain.md#order-rules
MAX_DAYS = 366
MAX_KG_PER_DAY = 1000.0
CODE_COLUMN = "客戶"
QUANTITIES_LABEL = "數量"  # not a column: all of a delivery's quantity columns together

_PHONE_LIST_SEPARATORS = re.compile(r"[/,;、，；|\n]+")
_CYLINDER_TERM = re.compile(r"(\d+)\*(\d+)")
_ZONE_LABEL = re.compile(r"([A-Za-z])?\s*[-_.]?\s*(.*)")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")

LegacyCustomerRow = TypedDict(
    "LegacyCustomerRow",
    {
        "客戶": Cell, "客戶簡稱": Cell, "電子發票抬頭": Cell, "統一編號": Cell, "地址": Cell, "電話": Cell,
        "系統上鋼瓶數量": Cell, "50KG": Cell, "20KG": Cell, "16KG": Cell, "10KG": Cell, "4KG": Cell, "營20": Cell,
        "營16": Cell, "好運16": Cell, "好運20": Cell, "瓶安桶10": Cell, "幸福丸": Cell, "計價方式": Cell,
        "結帳方式": Cell, "8~9": Cell, "9~10": Cell, "10~11": Cell, "11~12": Cell, "12~13": Cell, "13~14": Cell,
        "14~15": Cell, "15~16": Cell, "16~17": Cell, "17~18": Cell, "18~19": Cell, "19~20": Cell,
        "時段早1午2晚3全天0": Cell, "公休日": Cell, "區域": Cell, "1汽車/2機車/0全部": Cell, "平均日使用": Cell,
        "最大週期": Cell, "可延後天數": Cell, "訂閱式會員": Cell, "發報": Cell, "已解約": Cell,
        "需要當天配送": Cell, "類型": Cell,
    },
    total=False,
)  # fmt: skip
"""A customer-list row, keyed by the office's column names; a missing column reads as blank."""

LegacyDeliveryRow = TypedDict(
    "LegacyDeliveryRow",
    {
        "序號": Cell, "日期": Cell, "時間": Cell, "業務員": Cell, "客戶": Cell, "狀態": Cell,
        "50公斤": Cell, "丙烷20": Cell, "丙烷16": Cell, "20公斤": Cell, "16公斤": Cell, "10公斤": Cell, "4公斤": Cell,
        "好運桶16": Cell, "瓶安桶10": Cell, "幸福丸4": Cell, "好運桶20": Cell,
        "流量50公斤": Cell, "流量20公斤": Cell, "流量16公斤": Cell, "流量好運20公斤": Cell, "流量好運16公斤": Cell,
        "回收50公斤": Cell, "回收20公斤": Cell, "回收16公斤": Cell, "回收10公斤": Cell, "回收4公斤": Cell,
    },
    total=False,
)  # fmt: skip
"""A delivery-history row: 日期 is an ROC date (1140521) or an Excel serial (45799); 狀態 the legacy status."""


@dataclass(frozen=True)
class Rejected:
    """One value refused: the column it sits in, the value as written and why."""

    column: str
    value: object
    reason: str


@dataclass(frozen=True)
class RejectedRow:
    """A row not mapped, with every problem found in it."""

    key: str  # the customer code (or delivery 序號) as written, "" when blank
    problems: tuple[Rejected, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(problem.column for problem in self.problems)


@dataclass(frozen=True)
class CustomerRecordFields:
    """The customer service's ``CustomerFields`` (proto/luckygas/customer/v1/customer.proto), field for field."""

    code: str
    short_name: str
    invoice_title: str
    tax_id: str
    phones: tuple[str, ...]
    address: str
    zone: str
    segment: str
    hourly_windows: tuple[bool, ...]
    slot_code: int | None
    rest_days: str
    vehicle_requirement: str
    cylinders: Mapping[str, int]
    consumption_kg_per_day: float
    max_cycle_days: int
    slip_days: int
    pricing_method: str
    payment_terms: str
    subscription: bool
    alert_device: bool
    # No legacy column carries these; they start as a new customer's do.
    postal_code: str = ""
    latitude: float | None = None
    longitude: float | None = None
    spare_cylinders: int = 0
    manifolded_cylinders: int = 0
    credit_limit: int = 0
    blocked: bool = False
    notes: str = ""


@dataclass(frozen=True)
class MappedCustomer:
    fields: CustomerRecordFields
    terminated: bool  # 已解約: created, then terminated (TerminateCustomer), so the history still has its customer
    same_day: bool  # 需要當天配送: the platform has no field for it yet; kept so nothing is dropped silently


@dataclass(frozen=True)
class MappedDelivery:
    legacy_id: int | None  # 序號, the legacy table's key
    customer_code: str
    day: date
    time: time | None
    salesperson: str
    status: str  # the platform's order status
    failure_reason: str | None  # not_home | refused for failed deliveries the legacy system gave a reason for
    items: Mapping[str, int] = field(default_factory=dict)  # cylinder products → cylinders
    metered_kg: Mapping[str, float] = field(default_factory=dict)  # flow products → kg read off the meter
    empties: Mapping[str, int] = field(default_factory=dict)  # product → empty cylinders taken back


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


T = TypeVar("T")


class _Problems:
    """Collects every problem of one row, so that a rejection lists them all."""

    def __init__(self, row: Mapping[str, object]) -> None:
        self.row = row
        self.found: list[Rejected] = []

    def cell(self, column: str) -> Cell:
        value = self.row.get(column)
        return value if isinstance(value, str | int | float | Decimal | date | time) or value is None else str(value)

    def add(self, column: str, reason: str) -> None:
        self.found.append(Rejected(column, self.row.get(column), reason))

    def read(self, column: str, parse: Callable[[Cell], T], fallback: T) -> T:
        try:
            return parse(self.cell(column))
        except _Refused as refused:
            self.add(column, refused.reason)
            return fallback


def _text(cell: Cell) -> str:
    """A cell as text, kept as written but for surrounding blanks; Excel's 1234.0 reads as 1234."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def _compact(cell: Cell) -> str:
    # NFKC turns the full-width digits and letters of zh-TW input (１, Ｖ, ＊) into ASCII.
    return unicodedata.normalize("NFKC", _text(cell)).strip()


def _invalid_reason(error: InvalidArgument) -> str:
    return "; ".join(violation.reason for violation in error.violations) or error.message


def _number(cell: Cell, *, division_by_zero_is_blank: bool = False) -> float | None:
    """A number, or None when blank."""
    if isinstance(cell, bool | date | time):
        raise _Refused("must be a number")
    if isinstance(cell, int | float | Decimal):
        number = float(cell)
    else:
        text = _compact(cell).replace(",", "")
        if not text or (division_by_zero_is_blank and text.upper() == DIVISION_BY_ZERO):
            return None
        if text.upper() in EXCEL_ERRORS:
            raise _Refused(f"is Excel's error {text}, not a number")
        try:
            number = float(text)
        except ValueError:
            raise _Refused("must be a number") from None
    if not math.isfinite(number):
        raise _Refused("must be a finite number")
    return number


def _count(cell: Cell) -> int:
    """A whole number of cylinders, blank = 0."""
    number = _number(cell)
    if number is None:
        return 0
    if number < 0 or not number.is_integer():
        raise _Refused("must be a whole number of cylinders, 0 or more")
    return int(number)


def _choice(table: Mapping[str, str], what: str) -> Callable[[Cell], str]:
    def parse(cell: Cell) -> str:
        text = _compact(cell)
        if text in table:
            return table[text]
        known = ", ".join(f"{key or 'blank'} ({value})" for key, value in table.items())
        raise _Refused(f"{'is blank' if not text else f'unknown {what} {text!r}'}; known: {known}")

    return parse


# ---------------------------------------------------------------- customers


def _code(cell: Cell) -> str:
    code = _compact(cell)
    if not code:
        raise _Refused("is blank: every customer needs its 7-digit code")
    if not (len(code) == 7 and code.isascii() and code.isdigit()):
        raise _Refused("must be a 7-digit customer code")
    return code


def _required(cell: Cell) -> str:
    text = _text(cell)
    if not text:
        raise _Refused("is blank")
    return text


def _tax_id(cell: Cell) -> str:
    text = re.sub(r"\s", "", _compact(cell))
    if not text:
        return ""
    if isinstance(cell, int | float | Decimal) and text.isdigit() and len(text) == 7:
        text = "0" + text  # a numeric cell: Excel dropped the leading 0; the checksum below still has its say
    try:
        return validate_tax_id(text, field="統一編號")
    except InvalidArgument as error:
        raise _Refused(_invalid_reason(error)) from None


def _phones(cell: Cell) -> tuple[str, ...]:
    phones: list[str] = []
    for part in _PHONE_LIST_SEPARATORS.split(_text(cell)):
        if not part.strip():
            continue
        try:
            phone = normalise_phone(part, field="電話")  # restores the 0 Excel dropped, checks the area code
        except InvalidArgument as error:
            raise _Refused(f"{part.strip()!r}: {_invalid_reason(error)}") from None
        if phone not in phones:
            phones.append(phone)
    if len(phones) > MAX_PHONES:
        raise _Refused(f"at most {MAX_PHONES} phone numbers, got {len(phones)}")
    return tuple(phones)


def parse_cylinders_text(cell: Cell) -> dict[int, int]:
    """Read ``20*5+16*1`` (size × count joined by +) into {size: count}; blank is {}."""
    text = re.sub(r"\s", "", _compact(cell))
    if not text:
        return {}
    counts: dict[int, int] = {}
    for term in text.split("+"):
        match = _CYLINDER_TERM.fullmatch(term)
        if match is None:
            raise _Refused(f"{term!r} is not size*count; write it as 20*5+16*1")
        size, count = int(match[1]), int(match[2])
        if size not in CYLINDER_SIZES:
            raise _Refused(f"{size} kg is no cylinder size ({', '.join(map(str, CYLINDER_SIZES))})")
        if count == 0:
            raise _Refused(f"{term!r} counts no cylinder")
        counts[size] = counts.get(size, 0) + count
    return counts


def product_code(size: int, grade: str, method: str) -> str:
    if grade == "propane":
        return f"propane-{size}"
    if grade == "happy":
        return "happy-4"
    return f"{method}-{size}-{grade}"


def _by_size(counts: Mapping[int, int]) -> str:
    return "+".join(f"{size}*{count}" for size, count in sorted(counts.items(), reverse=True)) or "none"


def _window(cell: Cell) -> bool:
    text = _compact(cell)
    if text in ("", "0"):
        return False
    if text == "1":
        return True
    raise _Refused("must be 1 (deliverable), 0 or blank")


def _slot(cell: Cell) -> int | None:
    text = _compact(cell)
    if not text:
        return None
    if text in ("0", "1", "2", "3"):
        return int(text)
    raise _Refused("must be 0 (all day), 1 (morning), 2 (afternoon), 3 (evening) or blank")


def _vehicle(cell: Cell) -> str:
    text = _compact(cell)
    if text in ("0", "1", "2"):
        return VEHICLES[int(text)]
    raise _Refused("must be 1 (car), 2 (motorcycle) or 0 (either)" + ("; it is blank" if not text else ""))


def _flag(cell: Cell) -> bool:
    text = _compact(cell).upper()
    if text in FLAG_YES:
        return True
    if text in FLAG_NO:
        return False
    raise _Refused("V means yes, blank means no")


def _kg_per_day(cell: Cell) -> float:
    number = _number(cell, division_by_zero_is_blank=True)
    if number is None:
        return 0.0  # blank or #DIV/0!: no history to average yet, the same as a new customer
    if not 0 <= number <= MAX_KG_PER_DAY:
        raise _Refused(f"must be between 0 and {MAX_KG_PER_DAY:g} kg a day")
    return number


def _days(cell: Cell) -> int:
    number = _number(cell, division_by_zero_is_blank=True)
    if number is None:
        return 0
    if not 0 <= number <= MAX_DAYS:
        raise _Refused(f"must be between 0 and {MAX_DAYS} days")
    return math.floor(number + 0.5)  # the sheet averages; a day is the platform's unit


def _zone(zones: Mapping[str, str]) -> Callable[[Cell], str]:
    """Read ``A-瑞光``, ``瑞光`` or ``A`` against the zone table (code → name), correcting the known typos."""
    code_by_name = {name: code for code, name in zones.items()}

    def parse(cell: Cell) -> str:
        text = _compact(cell)
        known = ", ".join(f"{code}-{name}" for code, name in sorted(zones.items()))
        match = _ZONE_LABEL.fullmatch(text)
        if not text or match is None:
            raise _Refused(f"is blank; known zones are {known}")
        letter = (match[1] or "").upper()
        name = ZONE_TYPOS.get(match[2].strip(), match[2].strip())
        if name and name not in code_by_name:
            raise _Refused(f"unknown zone {text!r}; known zones are {known}")
        if letter and letter not in zones:
            raise _Refused(f"unknown zone letter {letter!r}; known zones are {known}")
        if letter and name and code_by_name[name] != letter:
            raise _Refused(f"{letter} is {zones[letter]} but the name says {name} ({code_by_name[name]})")
        return letter or code_by_name[name]

    return parse


def _rest_days(cell: Cell) -> str:
    # Passed on as written (the notation of docs/domain.md#rest-days); the customer service parses and judges it.
    return _compact(cell)


def map_customer(row: LegacyCustomerRow, zones: Mapping[str, str]) -> MappedCustomer | RejectedRow:
    """Map one customer-list row; ``zones`` is the zone table, code → name (``{"A": "瑞光", …}``)."""
    problems = _Problems(row)
    read = problems.read
    pricing_method = read("計價方式", _choice(PRICING_METHODS, "pricing"), "cylinder")
    cylinders, on_site = _cylinders(problems, pricing_method)
    fields = CustomerRecordFields(
        code=read(CODE_COLUMN, _code, ""),
        short_name=read("客戶簡稱", _required, ""),
        invoice_title=_text(problems.cell("電子發票抬頭")),
        tax_id=read("統一編號", _tax_id, ""),
        phones=read("電話", _phones, ()),
        address=_text(problems.cell("地址")),
        zone=read("區域", _zone(zones), ""),
        segment=read("類型", _choice(SEGMENTS, "segment"), ""),
        hourly_windows=_windows(problems),
        slot_code=read("時段早1午2晚3全天0", _slot, None),
        rest_days=read("公休日", _rest_days, ""),
        vehicle_requirement=read("1汽車/2機車/0全部", _vehicle, ""),
        cylinders=cylinders,
        consumption_kg_per_day=read("平均日使用", _kg_per_day, 0.0),
        max_cycle_days=read("最大週期", _days, 0),
        slip_days=read("可延後天數", _days, 0),
        pricing_method=pricing_method,
        payment_terms=read("結帳方式", _choice(PAYMENT_TERMS, "payment"), ""),
        subscription=read("訂閱式會員", _flag, False),
        alert_device=read("發報", _flag, False),
    )
    terminated = read("已解約", _flag, False)
    same_day = read("需要當天配送", _flag, False)
    if on_site:
        problems.add("系統上鋼瓶數量", on_site)
    if problems.found:
        return RejectedRow(_compact(problems.cell(CODE_COLUMN)), tuple(problems.found))
    return MappedCustomer(fields, terminated=terminated, same_day=same_day)


def _windows(problems: _Problems) -> tuple[bool, ...]:
    windows = tuple(problems.read(column, _window, False) for column in WINDOW_COLUMNS)
    return windows if any(windows) else ()  # none marked reads as any hour, which the platform writes as empty


def _cylinders(problems: _Problems, pricing_method: str) -> tuple[dict[str, int], str]:
    """The product columns as product codes, and why the 系統上鋼瓶數量 text disagrees with them ("" if it agrees)."""
    cylinders: dict[str, int] = {}
    sizes: dict[int, int] = {}
    for column, (size, grade) in CUSTOMER_PRODUCT_COLUMNS.items():
        count = problems.read(column, _count, 0)
        if count:
            code = product_code(size, grade, pricing_method)
            cylinders[code] = cylinders.get(code, 0) + count
            sizes[size] = sizes.get(size, 0) + count
    text = problems.read("系統上鋼瓶數量", parse_cylinders_text, None)
    if not text:
        return dict(sorted(cylinders.items())), ""
    if not cylinders:
        # Only the text is filled in: it gives sizes, not grades, so the regular grade of each size.
        from_text = {product_code(size, "regular", pricing_method): count for size, count in text.items()}
        return dict(sorted(from_text.items())), ""
    if text != sizes:
        return {}, f"says {_by_size(text)} but the product columns say {_by_size(sizes)}"
    return dict(sorted(cylinders.items())), ""


# ---------------------------------------------------------------- deliveries


def _delivery_day(cell: Cell) -> date:
    """An ROC date (1140521, 990101, "114/05/21") or an Excel serial (45799); a cell Excel typed as a date as is."""
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    if isinstance(cell, bool | time) or cell is None:
        raise _Refused("must be an ROC date (1140521) or an Excel date serial (45799)")
    text = _compact(cell)
    try:
        if "/" in text or "-" in text:
            return roc_to_date(text, field="日期")
        number = float(text)
        if number.is_integer() and number >= 100_000:
            return roc_to_date(int(number), field="日期")
        return excel_serial_to_date(number, field="日期")
    except ValueError:
        raise _Refused("must be an ROC date (1140521) or an Excel date serial (45799)") from None
    except InvalidArgument as error:
        raise _Refused(_invalid_reason(error)) from None


def _delivery_time(cell: Cell) -> time | None:
    if isinstance(cell, datetime):
        return cell.time()
    if isinstance(cell, time):
        return cell
    if isinstance(cell, float | Decimal) and 0 <= cell < 1:
        # Excel keeps a time of day as a fraction of a day.
        return (datetime.min + timedelta(seconds=round(float(cell) * 86_400))).time()
    text = _compact(cell)
    if not text:
        return None
    match = _CLOCK.fullmatch(text)
    if match and int(match[1]) < 24 and int(match[2]) < 60 and int(match[3] or 0) < 60:
        return time(int(match[1]), int(match[2]), int(match[3] or 0))
    raise _Refused("must be a time of day such as 14:30")


def _status(cell: Cell) -> tuple[str, str | None]:
    text = _compact(cell).upper()
    if text in STATUS_MAP:
        return STATUS_MAP[text]
    raise _Refused(f"{'is blank' if not text else 'unknown status'}; known: {', '.join(STATUS_MAP)}")


def _kg(cell: Cell) -> float:
    number = _number(cell)
    if number is None:
        return 0.0
    if number < 0:
        raise _Refused("kg read off the meter cannot be negative")
    return number


def _legacy_id(cell: Cell) -> int | None:
    number = _number(cell)
    if number is None:
        return None
    if not number.is_integer():
        raise _Refused("must be a whole number")
    return int(number)


def map_delivery(row: LegacyDeliveryRow, known_customers: Container[str] | None = None) -> MappedDelivery | RejectedRow:
    """Map one delivery-history row; with ``known_customers``, history of any other customer is rejected."""
    problems = _Problems(row)
    read = problems.read
    legacy_id = read("序號", _legacy_id, None)
    code = read(CODE_COLUMN, _code, "")
    if code and known_customers is not None and code not in known_customers:
        problems.add(CODE_COLUMN, "unknown customer: not in the customer list, and history is never invented")
    day = read("日期", _delivery_day, date.min)
    at = read("時間", _delivery_time, None)
    no_status: tuple[str, str | None] = ("", None)
    status, failure_reason = read("狀態", _status, no_status)
    items: dict[str, int] = {}
    for column, product in DELIVERY_PRODUCT_COLUMNS.items():
        quantity = read(column, _count, 0)
        if quantity > MAX_ITEM_QUANTITY:
            problems.add(column, f"an order line holds 1 to {MAX_ITEM_QUANTITY} cylinders")
        elif quantity:
            items[product] = quantity
    metered = {product: kg for column, product in DELIVERY_KG_COLUMNS.items() if (kg := read(column, _kg, 0.0))}
    empties = _empties(problems, items, delivered=status == "delivered")
    if not items and not metered and not any(problem.column in DELIVERY_PRODUCT_COLUMNS for problem in problems.found):
        problems.found.append(Rejected(QUANTITIES_LABEL, 0, "no product delivered: every quantity column is 0"))
    if problems.found:
        return RejectedRow(
            _compact(problems.cell("序號")) or _compact(problems.cell(CODE_COLUMN)), tuple(problems.found)
        )
    return MappedDelivery(
        legacy_id=legacy_id,
        customer_code=code,
        day=day,
        time=at,
        salesperson=_text(problems.cell("業務員")),
        status=status,
        failure_reason=failure_reason,
        items=items,
        metered_kg=metered,
        empties=empties,
    )


def _empties(problems: _Problems, items: Mapping[str, int], *, delivered: bool) -> dict[str, int]:
    """Returned empties per size, spread over the products of that size delivered (returns never exceed them)."""
    empties: dict[str, int] = {}
    for column, size in RETURN_COLUMNS.items():
        returned = problems.read(column, _count, 0)
        if not returned:
            continue
        of_size = {product: quantity for product, quantity in items.items() if PRODUCTS[product].size_kg == size}
        if not delivered:
            problems.add(column, "empties recorded on a delivery that did not take place")
            continue
        if returned > sum(of_size.values()):
            problems.add(column, f"{returned} empties of {size} kg returned but {sum(of_size.values())} delivered")
            continue
        for product, quantity in of_size.items():
            taken = min(returned, quantity)
            if taken:
                empties[product] = taken
                returned -= taken
    return empties


def count_by_size(counts: Mapping[str, int]) -> dict[int, int]:
    """Cylinders per product counted per cylinder size in kg, as the legacy sheet records empties and stock."""
    sizes: dict[int, int] = {}
    for product, count in counts.items():
        size = PRODUCTS[product].size_kg
        sizes[size] = sizes.get(size, 0) + count
    return sizes
