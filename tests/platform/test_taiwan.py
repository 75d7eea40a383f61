"""Taiwan formats: tax IDs, phones, ROC and Excel dates, postal codes and national IDs."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.platform.errors import FieldViolation, InvalidArgument
from services.platform.taiwan import (
    date_to_excel_serial,
    date_to_roc,
    excel_serial_to_date,
    format_landline,
    format_mobile,
    format_phone,
    is_taitung_postal_code,
    normalise_landline,
    normalise_mobile,
    normalise_phone,
    roc_to_date,
    validate_national_id,
    validate_postal_code,
    validate_tax_id,
)


def refusal(raised: pytest.ExceptionInfo[InvalidArgument]) -> FieldViolation:
    (violation,) = raised.value.violations
    return violation


# ---------------------------------------------------------------- 統一編號


@pytest.mark.parametrize(
    "tax_id",
    [
        "04595257",  # weighted digit sum 40
        "22099131",  # 30
        "10458575",  # 30, with a 7 in the 7th place
        "04595252",  # 35: valid only under the divisible-by-5 rule of 2023
        "10458574",  # 29: 7th digit 7, so 29 + 1 = 30 counts
        "10458579",  # 34: 7th digit 7, 34 + 1 = 35 counts under the 2023 rule
    ],
)
def test_valid_tax_id_is_accepted(tax_id: str) -> None:
    assert validate_tax_id(tax_id) == tax_id


@pytest.mark.parametrize(
    ("raw", "expected"), [(" 04595257 ", "04595257"), ("0459 5257", "04595257"), ("０４５９５２５７", "04595257")]
)
def test_tax_id_is_normalised(raw: str, expected: str) -> None:
    assert validate_tax_id(raw) == expected


@pytest.mark.parametrize(
    ("tax_id", "reason"),
    [
        ("04595258", "checksum failed"),
        ("12345678", "checksum failed"),
        ("22099132", "checksum failed"),  # 7th digit is not 7, so sum + 1 does not rescue it
        ("4595257", "must be 8 digits, got 7 (a leading 0 dropped by Excel?)"),
        ("045952570", "must be 8 digits, got 9"),
        ("0459525A", "must contain only digits"),
        (" ", "is empty"),
    ],
)
def test_bad_tax_id_is_refused_with_reason(tax_id: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        validate_tax_id(tax_id)
    assert refusal(raised) == FieldViolation("tax_id", reason)


def test_refusal_names_the_field_the_caller_gives() -> None:
    with pytest.raises(InvalidArgument) as raised:
        validate_tax_id("04595258", field="buyer.tax_id")
    assert refusal(raised).field == "buyer.tax_id"


# ---------------------------------------------------------------- mobiles


@pytest.mark.parametrize(
    "raw",
    [
        "0912345678",
        "0912-345-678",
        "0912 345 678",
        "+886 912 345 678",
        "+886-912-345678",
        "+886 (0)912 345 678",
        "00886912345678",
        "912345678",  # Excel dropped the leading 0
        912345678,
        "０９１２－３４５－６７８",
    ],
)
def test_mobile_is_normalised_to_ten_digits(raw: str | int) -> None:
    assert normalise_mobile(raw) == "0912345678"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("0812345678", "mobile numbers start with 09"),
        ("091234567", "mobile numbers have 10 digits (09 + 8), got 9"),
        ("09123456789", "mobile numbers have 10 digits (09 + 8), got 11"),
        ("+1 415 555 0100", "only Taiwan (+886) numbers are accepted"),
        ("0912-345-678#12", "extensions are not part of the number; record the extension in the notes"),
        ("0912.345.678", "may contain only digits, spaces, '-', '(' and ')'"),
        ("  ", "is empty"),
    ],
)
def test_bad_mobile_is_refused_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        normalise_mobile(raw)
    assert refusal(raised) == FieldViolation("phone", reason)


@pytest.mark.parametrize("raw", ["0912345678", "912345678", "+886 912 345 678"])
def test_mobile_is_displayed_in_four_three_three_groups(raw: str) -> None:
    assert format_mobile(raw) == "0912-345-678"


# ---------------------------------------------------------------- landlines


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("089-322-123", "089322123"),  # Taitung: 6 local digits
        ("(089) 322123", "089322123"),
        ("089 322 123", "089322123"),
        ("+886 89 322 123", "089322123"),
        ("89322123", "089322123"),  # Excel dropped the leading 0
        (89322123, "089322123"),
        ("02-2345-6789", "0223456789"),  # Taipei: 8
        ("223456789", "0223456789"),
        ("04-2345-6789", "0423456789"),  # Taichung: 8
        ("04-723-4567", "047234567"),  # Changhua: 7
        ("049-2345678", "0492345678"),  # Nantou: 7
        ("037-1234567", "0371234567"),  # Miaoli: 7 per docs/domain.md#phone-numbers
        ("07-123-4567", "071234567"),  # Kaohsiung
        ("08-732-1234", "087321234"),  # Pingtung
        ("082-312345", "082312345"),  # Kinmen: 6
        ("0836-22345", "083622345"),  # Matsu: 5
        ("0826-12345", "082612345"),  # Wuqiu: 5
    ],
)
def test_landline_is_normalised_to_digits(raw: str | int, expected: str) -> None:
    assert normalise_landline(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("089-322-1234", "Taitung (089) local numbers have 6 digits, got 7"),
        ("089-12345", "Taitung (089) local numbers have 6 digits, got 5"),
        ("02-234-5678", "Taipei (02) local numbers have 8 digits, got 7"),
        ("04-23456", "Taichung/Changhua (04) local numbers have 7 or 8 digits, got 5"),
        ("0836-223456", "Matsu (0836) local numbers have 5 digits, got 6"),
        ("322123", "has no area code (Taitung numbers are written 089-xxxxxx)"),
        ("0912-345-678", "is a mobile number, not a landline"),
        ("0800-123-456", "toll-free (080x) numbers are not accepted; give the customer's own line"),
        ("089-322-123 ext. 5", "extensions are not part of the number; record the extension in the notes"),
        ("089-322-123 分機 5", "extensions are not part of the number; record the extension in the notes"),
        ("012-345678", "unknown area code"),
    ],
)
def test_bad_landline_is_refused_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        normalise_landline(raw)
    assert refusal(raised) == FieldViolation("phone", reason)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("089322123", "(089) 322-123"),
        ("0223456789", "(02) 2345-6789"),
        ("047234567", "(04) 723-4567"),
        ("083622345", "(0836) 22-345"),
    ],
)
def test_landline_is_displayed_with_area_code_in_parentheses(raw: str, expected: str) -> None:
    assert format_landline(raw) == expected


@pytest.mark.parametrize("displayed", ["(089) 322-123", "(02) 2345-6789", "0912-345-678"])
def test_display_form_reads_back_to_the_same_number(displayed: str) -> None:
    assert format_phone(normalise_phone(displayed)) == displayed


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0912-345-678", "0912345678"),
        ("912345678", "0912345678"),
        ("089-322-123", "089322123"),
        ("89322123", "089322123"),
    ],
)
def test_phone_accepts_mobile_or_landline(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


def test_phone_refusal_names_the_field_the_caller_gives() -> None:
    with pytest.raises(InvalidArgument) as raised:
        normalise_phone("089-12345", field="phones[1]")
    assert refusal(raised) == FieldViolation("phones[1]", "Taitung (089) local numbers have 6 digits, got 5")


# ---------------------------------------------------------------- ROC and Excel dates


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1140521, date(2025, 5, 21)),
        ("1140521", date(2025, 5, 21)),
        ("114/05/21", date(2025, 5, 21)),
        ("114-5-21", date(2025, 5, 21)),
        (990101, date(2010, 1, 1)),  # 6 digits: ROC years below 100
        ("0990101", date(2010, 1, 1)),
        (1130229, date(2024, 2, 29)),
        ("１１４０５２１", date(2025, 5, 21)),
    ],
)
def test_roc_date_is_read(raw: int | str, expected: date) -> None:
    assert roc_to_date(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (1140229, "ROC 114/02/29 is not a calendar date"),
        (1141301, "ROC 114/13/01 is not a calendar date"),
        (1140500, "ROC 114/05/00 is not a calendar date"),
        (45798, "must be an ROC date of 6 or 7 digits (YYYMMDD, e.g. 1140521) or 114/05/21"),
        ("2025-05-21", "must be an ROC date of 6 or 7 digits (YYYMMDD, e.g. 1140521) or 114/05/21"),
        ("90101", "must be an ROC date of 6 or 7 digits (YYYMMDD, e.g. 1140521) or 114/05/21"),
        ("0090101", "ROC year must be between 10 and 999, got 9"),
        (True, "must be an ROC date such as 1140521, not a boolean"),
    ],
)
def test_bad_roc_date_is_refused_with_reason(raw: int | str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        roc_to_date(raw)
    assert refusal(raised) == FieldViolation("date", reason)


def test_date_is_written_as_roc_integer() -> None:
    assert date_to_roc(date(2025, 5, 21)) == 1140521


@settings(database=None)
@given(st.dates(min_value=date(1921, 1, 1), max_value=date(2910, 12, 31)))
def test_roc_integer_reads_back_to_the_same_date(day: date) -> None:
    assert roc_to_date(date_to_roc(day)) == day


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        (45798, date(2025, 5, 21)),
        (45798.75, date(2025, 5, 21)),  # 18:00 that day; the time is dropped
        ("45798", date(2025, 5, 21)),
        (1, date(1900, 1, 1)),
        (59, date(1900, 2, 28)),
        (61, date(1900, 3, 1)),  # serial 60 is Excel's imaginary 1900-02-29
    ],
)
def test_excel_serial_is_read(serial: int | float | str, expected: date) -> None:
    assert excel_serial_to_date(serial) == expected


@pytest.mark.parametrize(
    ("serial", "reason"),
    [
        (60, "serial 60 is 1900-02-29, a day that never existed (Excel's leap-year bug)"),
        (0, "Excel date serials run from 1 to 2958465, got 0"),
        (-3, "Excel date serials run from 1 to 2958465, got -3"),
        (2958466, "Excel date serials run from 1 to 2958465, got 2958466"),
        ("nan", "must be a finite Excel date serial"),
        ("2025-05-21", "must be an Excel date serial number"),
    ],
)
def test_bad_excel_serial_is_refused_with_reason(serial: int | str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        excel_serial_to_date(serial)
    assert refusal(raised) == FieldViolation("date", reason)


@settings(database=None)
@given(st.dates(min_value=date(1900, 1, 1)))
def test_excel_serial_reads_back_to_the_same_date(day: date) -> None:
    assert excel_serial_to_date(date_to_excel_serial(day)) == day


# ---------------------------------------------------------------- postal codes


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("950", "950"), ("95001", "95001"), ("950012", "950012"), (" 950 ", "950"), ("950-012", "950012"), ("100", "100")],
)
def test_postal_code_is_accepted(raw: str, expected: str) -> None:
    assert validate_postal_code(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("95", "must be 3, 5 or 6 digits, got 2"),
        ("9500", "must be 3, 5 or 6 digits, got 4"),
        ("9500123", "must be 3, 5 or 6 digits, got 7"),
        ("95O", "must contain only digits"),
        ("012", "Taiwan postal codes start with 1-9"),
        ("", "is empty"),
    ],
)
def test_bad_postal_code_is_refused_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        validate_postal_code(raw)
    assert refusal(raised) == FieldViolation("postal_code", reason)


@pytest.mark.parametrize(
    ("code", "in_taitung"),
    [
        ("950", True),  # Taitung City
        ("951", True),  # Green Island
        ("966", True),  # Daren
        ("95001", True),
        ("965012", True),
        ("949", False),
        ("967", False),
        ("100", False),  # Taipei
    ],
)
def test_taitung_postal_codes_are_950_to_966(code: str, in_taitung: bool) -> None:
    assert is_taitung_postal_code(code) is in_taitung


# ---------------------------------------------------------------- national ID


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A123456789", "A123456789"),
        ("A234567893", "A234567893"),
        ("V123456787", "V123456787"),  # V: Taitung County
        ("v220164837", "V220164837"),
        (" F128394716 ", "F128394716"),
    ],
)
def test_valid_national_id_is_accepted_in_upper_case(raw: str, expected: str) -> None:
    assert validate_national_id(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("A123456788", "checksum failed"),
        ("V123456789", "checksum failed"),
        ("A323456789", "the second character must be 1 or 2"),
        ("1123456789", "must start with a letter A-Z"),
        ("A12345678X", "must be a letter followed by 9 digits"),
        ("A12345678", "must be 10 characters (a letter and 9 digits), got 9"),
        ("", "is empty"),
    ],
)
def test_bad_national_id_is_refused_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        validate_national_id(raw)
    assert refusal(raised) == FieldViolation("national_id", reason)
