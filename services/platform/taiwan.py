"""Validates and normalises Taiwan formats: tax IDs, phones, ROC and Excel dates, postal codes, national IDs."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NoReturn

from services.platform.errors import InvalidArgument

TAX_ID_WEIGHTS = (1, 2, 1, 2, 1, 2, 4, 1)
# The Ministry of Finance widened the check from "divisible by 10" to "divisible by 5" in 2023 so more
# numbers could be issued; every older number still passes.
TAX_ID_DIVISOR = 5


@dataclass(frozen=True)
class AreaCode:
    prefix: str
    region: str
    local_lengths: tuple[int, ...]


# Local-number lengths per area code, as docs/domain.md#phone-numbers states them; the longest matching prefix wins,
# so 089 (Taitung) beats 08 (Pingtung) and 0836 (Matsu) beats 08.
AREA_CODES: tuple[AreaCode, ...] = (
    AreaCode("02", "Taipei", (8,)),
    AreaCode("03", "Taoyuan/Hsinchu/Yilan/Hualien", (7,)),
    AreaCode("037", "Miaoli", (7,)),
    AreaCode("04", "Taichung/Changhua", (7, 8)),
    AreaCode("049", "Nantou", (7,)),
    AreaCode("05", "Chiayi/Yunlin", (7,)),
    AreaCode("06", "Tainan/Penghu", (7,)),
    AreaCode("07", "Kaohsiung", (7,)),
    AreaCode("08", "Pingtung", (7,)),
    AreaCode("082", "Kinmen", (6,)),
    AreaCode("0826", "Wuqiu", (5,)),
    AreaCode("0836", "Matsu", (5,)),
    AreaCode("089", "Taitung", (6,)),
)
_AREA_CODES_LONGEST_FIRST = sorted(AREA_CODES, key=lambda area: len(area.prefix), reverse=True)

_PHONE_SEPARATORS = re.compile(r"[\s\-()]")
_EXTENSION_MARKERS = re.compile(r"#|ext|分機|轉", re.IGNORECASE)
_ROC_SEPARATED = re.compile(r"(\d{1,3})[/.\-](\d{1,2})[/.\-](\d{1,2})")

# Nothing in the business predates ROC year 10 (1921); a shorter number is far more likely an Excel
# serial or a typo than a real date, so it is refused rather than read as 1912-1920.
ROC_YEAR_RANGE = (10, 999)
ROC_OFFSET = 1911

# Excel's 1900 date system counts 1900-01-01 as serial 1 and, copying Lotus 1-2-3, believes
# 1900-02-29 existed (serial 60); from serial 61 on, serial n is 1899-12-30 + n days.
EXCEL_EPOCH = date(1899, 12, 30)
EXCEL_FICTITIOUS_LEAP_DAY = 60
EXCEL_MAX_SERIAL = (date(9999, 12, 31) - EXCEL_EPOCH).days

# First letter of a national ID → two-digit code: not alphabetical past H, hence a table.
NATIONAL_ID_LETTER_CODES = {
    "A": 10, "B": 11, "C": 12, "D": 13, "E": 14, "F": 15, "G": 16, "H": 17, "I": 34, "J": 18, "K": 19,
    "L": 20, "M": 21, "N": 22, "O": 35, "P": 23, "Q": 24, "R": 25, "S": 26, "T": 27, "U": 28, "V": 29,
    "W": 32, "X": 30, "Y": 31, "Z": 33,
}  # fmt: skip
NATIONAL_ID_WEIGHTS = (1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1)

TAITUNG_POSTAL_RANGE = (950, 966)


def _reject(field: str, reason: str) -> NoReturn:
    raise InvalidArgument.for_field(field, reason)


def _text(value: str | int | float) -> str:
    # NFKC turns full-width digits, letters and punctuation (common in zh-TW input) into ASCII.
    return unicodedata.normalize("NFKC", str(value)).strip()


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


# ---------------------------------------------------------------- 統一編號 (business tax ID)


def validate_tax_id(value: str, *, field: str = "tax_id") -> str:
    """Return the 8-digit business tax ID without spaces, or raise InvalidArgument."""
    tax_id = re.sub(r"\s", "", _text(value))
    if not tax_id:
        _reject(field, "is empty")
    if not _is_digits(tax_id):
        _reject(field, "must contain only digits")
    if len(tax_id) != len(TAX_ID_WEIGHTS):
        hint = " (a leading 0 dropped by Excel?)" if len(tax_id) == len(TAX_ID_WEIGHTS) - 1 else ""
        _reject(field, f"must be {len(TAX_ID_WEIGHTS)} digits, got {len(tax_id)}{hint}")
    total = sum(sum(divmod(int(digit) * weight, 10)) for digit, weight in zip(tax_id, TAX_ID_WEIGHTS, strict=True))
    # A 7 in the 7th place gives 7 × 4 = 28 → 2 + 8 = 10, which may count as 1 or 0: both sums are accepted.
    if total % TAX_ID_DIVISOR == 0 or (tax_id[6] == "7" and (total + 1) % TAX_ID_DIVISOR == 0):
        return tax_id
    _reject(field, "checksum failed")


# ---------------------------------------------------------------- phones


def _phone_digits(value: str | int, field: str) -> str:
    """Digits of a Taiwan number with separators and +886 removed; the leading 0 may still be missing."""
    text = _text(value)
    if not text:
        _reject(field, "is empty")
    if _EXTENSION_MARKERS.search(text):
        _reject(field, "extensions are not part of the number; record the extension in the notes")
    compact = _PHONE_SEPARATORS.sub("", text)
    for international_prefix in ("+886", "00886"):
        if compact.startswith(international_prefix):
            # "+886 (0)89…" is a common way to write it: the trunk 0 is optional after the country code.
            compact = "0" + compact.removeprefix(international_prefix).removeprefix("0")
    if compact.startswith("+"):
        _reject(field, "only Taiwan (+886) numbers are accepted")
    if not _is_digits(compact):
        _reject(field, "may contain only digits, spaces, '-', '(' and ')'")
    return compact


def _mobile(digits: str, field: str) -> str:
    if not digits.startswith("0"):
        digits = "0" + digits  # Excel stores 0912345678 as the number 912345678
    if not digits.startswith("09"):
        _reject(field, "mobile numbers start with 09")
    if len(digits) != 10:
        _reject(field, f"mobile numbers have 10 digits (09 + 8), got {len(digits)}")
    return digits


def _landline(digits: str, field: str) -> str:
    leading_zero_missing = not digits.startswith("0")
    if leading_zero_missing:
        digits = "0" + digits  # Excel stores 089123456 as the number 89123456
    if digits.startswith("09"):
        _reject(field, "is a mobile number, not a landline")
    if digits.startswith("080"):
        _reject(field, "toll-free (080x) numbers are not accepted; give the customer's own line")
    area = next((area for area in _AREA_CODES_LONGEST_FIRST if digits.startswith(area.prefix)), None)
    local_length = len(digits) - len(area.prefix) if area else 0
    if area is None or local_length not in area.local_lengths:
        if leading_zero_missing:
            _reject(field, "has no area code (Taitung numbers are written 089-xxxxxx)")
        if area is None:
            _reject(field, "unknown area code")
        expected = " or ".join(str(length) for length in area.local_lengths)
        _reject(field, f"{area.region} ({area.prefix}) local numbers have {expected} digits, got {local_length}")
    return digits


def normalise_mobile(value: str | int, *, field: str = "phone") -> str:
    """Return a mobile number as its 10 canonical digits, e.g. "0912345678"."""
    return _mobile(_phone_digits(value, field), field)


def normalise_landline(value: str | int, *, field: str = "phone") -> str:
    """Return a landline as digits only, area code included, e.g. "089322123"."""
    return _landline(_phone_digits(value, field), field)


def normalise_phone(value: str | int, *, field: str = "phone") -> str:
    """Return a mobile or landline number as canonical digits; mobiles are recognised by 09 (or 9 without the 0)."""
    digits = _phone_digits(value, field)
    if digits.startswith(("09", "9")):
        return _mobile(digits, field)
    return _landline(digits, field)


def _group(local: str) -> str:
    split = {8: 4, 7: 3, 6: 3, 5: 2}.get(len(local), len(local))
    return f"{local[:split]}-{local[split:]}" if split < len(local) else local


def format_mobile(value: str | int, *, field: str = "phone") -> str:
    """Display form of a mobile number: "0912-345-678"."""
    digits = normalise_mobile(value, field=field)
    return f"{digits[:4]}-{digits[4:7]}-{digits[7:]}"


def format_landline(value: str | int, *, field: str = "phone") -> str:
    """Display form of a landline: "(089) 322-123", "(02) 2345-6789"."""
    digits = normalise_landline(value, field=field)
    area = next(area for area in _AREA_CODES_LONGEST_FIRST if digits.startswith(area.prefix))
    return f"({area.prefix}) {_group(digits[len(area.prefix) :])}"


def format_phone(value: str | int, *, field: str = "phone") -> str:
    """Display form of either kind of number."""
    digits = normalise_phone(value, field=field)
    return format_mobile(digits, field=field) if digits.startswith("09") else format_landline(digits, field=field)


# ---------------------------------------------------------------- dates


def roc_to_date(value: int | str, *, field: str = "date") -> date:
    """Read an ROC date: 1140521 or "114/05/21" → 2025-05-21; 990101 → 2010-01-01."""
    if isinstance(value, bool):
        _reject(field, "must be an ROC date such as 1140521, not a boolean")
    text = _text(value)
    separated = _ROC_SEPARATED.fullmatch(text)
    if separated:
        year, month, day = (int(part) for part in separated.groups())
    elif _is_digits(text) and len(text) in (6, 7):
        number = int(text)
        year, month, day = number // 10000, number // 100 % 100, number % 100
    else:
        _reject(field, "must be an ROC date of 6 or 7 digits (YYYMMDD, e.g. 1140521) or 114/05/21")
    if not ROC_YEAR_RANGE[0] <= year <= ROC_YEAR_RANGE[1]:
        _reject(field, f"ROC year must be between {ROC_YEAR_RANGE[0]} and {ROC_YEAR_RANGE[1]}, got {year}")
    try:
        return date(year + ROC_OFFSET, month, day)
    except ValueError:
        _reject(field, f"ROC {year}/{month:02d}/{day:02d} is not a calendar date")


def date_to_roc(value: date, *, field: str = "date") -> int:
    """Write a date the legacy way: 2025-05-21 → 1140521."""
    year = value.year - ROC_OFFSET
    if not ROC_YEAR_RANGE[0] <= year <= ROC_YEAR_RANGE[1]:
        _reject(field, f"{value.isoformat()} is outside ROC years {ROC_YEAR_RANGE[0]}-{ROC_YEAR_RANGE[1]}")
    return year * 10000 + value.month * 100 + value.day


def excel_serial_to_date(serial: int | float | str, *, field: str = "date") -> date:
    """Read an Excel (1900 date system) serial: 45798 → 2025-05-21; a time-of-day fraction is dropped."""
    if isinstance(serial, bool):
        _reject(field, "must be an Excel date serial, not a boolean")
    try:
        number = float(_text(serial))
    except ValueError:
        _reject(field, "must be an Excel date serial number")
    if not math.isfinite(number):
        _reject(field, "must be a finite Excel date serial")
    whole = math.floor(number)
    if not 1 <= whole <= EXCEL_MAX_SERIAL:
        _reject(field, f"Excel date serials run from 1 to {EXCEL_MAX_SERIAL}, got {whole}")
    if whole == EXCEL_FICTITIOUS_LEAP_DAY:
        _reject(field, "serial 60 is 1900-02-29, a day that never existed (Excel's leap-year bug)")
    if whole < EXCEL_FICTITIOUS_LEAP_DAY:
        return EXCEL_EPOCH + timedelta(days=whole + 1)
    return EXCEL_EPOCH + timedelta(days=whole)


def date_to_excel_serial(value: date, *, field: str = "date") -> int:
    """The Excel (1900 date system) serial of a date: 2025-05-21 → 45798."""
    days = (value - EXCEL_EPOCH).days
    if days < 2:
        _reject(field, f"Excel's 1900 date system starts at 1900-01-01, got {value.isoformat()}")
    return days if days > EXCEL_FICTITIOUS_LEAP_DAY else days - 1


# ---------------------------------------------------------------- postal codes


def validate_postal_code(value: str, *, field: str = "postal_code") -> str:
    """Return a 3-, 5- or 6-digit postal code as digits ("950", "95001", "950012")."""
    code = re.sub(r"[\s\-]", "", _text(value))
    if not code:
        _reject(field, "is empty")
    if not _is_digits(code):
        _reject(field, "must contain only digits")
    if len(code) not in (3, 5, 6):
        _reject(field, f"must be 3, 5 or 6 digits, got {len(code)}")
    if code.startswith("0"):
        _reject(field, "Taiwan postal codes start with 1-9")
    return code


def is_taitung_postal_code(value: str, *, field: str = "postal_code") -> bool:
    """Whether a valid postal code lies in Taitung County (950-966); raises InvalidArgument if malformed."""
    area = int(validate_postal_code(value, field=field)[:3])
    return TAITUNG_POSTAL_RANGE[0] <= area <= TAITUNG_POSTAL_RANGE[1]


# ---------------------------------------------------------------- national ID


def validate_national_id(value: str, *, field: str = "national_id") -> str:
    """Return a national ID card number in upper case (e.g. "A123456789"), or raise InvalidArgument."""
    national_id = re.sub(r"\s", "", _text(value)).upper()
    if not national_id:
        _reject(field, "is empty")
    if len(national_id) != 10:
        _reject(field, f"must be 10 characters (a letter and 9 digits), got {len(national_id)}")
    letter, digits = national_id[0], national_id[1:]
    if letter not in NATIONAL_ID_LETTER_CODES:
        _reject(field, "must start with a letter A-Z")
    if not _is_digits(digits):
        _reject(field, "must be a letter followed by 9 digits")
    if digits[0] not in "12":
        _reject(field, "the second character must be 1 or 2")
    numbers = [int(character) for character in f"{NATIONAL_ID_LETTER_CODES[letter]}{digits}"]
    if sum(number * weight for number, weight in zip(numbers, NATIONAL_ID_WEIGHTS, strict=True)) % 10:
        _reject(field, "checksum failed")
    return national_id
