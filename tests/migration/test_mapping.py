"""Legacy rows → platform records, row type by row type: clean rows, each kind of dirty value, each status."""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from luckygas.customer.v1 import customer_pb2

from services.migration.mapping import (
    STATUS_MAP,
    WINDOW_COLUMNS,
    ZONE_TYPOS,
    CustomerRecordFields,
    MappedCustomer,
    MappedDelivery,
    RejectedRow,
    map_customer,
    map_delivery,
)
from services.platform.taiwan import date_to_excel_serial, date_to_roc
from services.platform.zones import load_zones

ZONES = {code: zone.name_zh for code, zone in load_zones().items()}
OPEN_WINDOWS = ("9~10", "10~11", "11~12")


def customer_row(changes: dict[str, Any] | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "客戶": "1400001",
        "客戶簡稱": "鐵花小吃",
        "電子發票抬頭": "鐵花小吃有限公司",
        "統一編號": "04595257",
        "地址": "台東市新生路135巷26號",
        "電話": "089322123",
        "系統上鋼瓶數量": "20*3",
        "20KG": 3,
        "計價方式": "桶裝",
        "結帳方式": "現金",
        **{column: 1 if column in OPEN_WINDOWS else 0 for column in WINDOW_COLUMNS},
        "時段早1午2晚3全天0": 1,
        "公休日": "7",
        "區域": "A-瑞光",
        "1汽車/2機車/0全部": 1,
        "平均日使用": 4.6,
        "最大週期": 11,
        "可延後天數": 6,
        "訂閱式會員": "V",
        "發報": "V",
        "已解約": "",
        "需要當天配送": None,
        "類型": "夜市",
    }
    return {**row, **(changes or {})}


def delivery_row(changes: dict[str, Any] | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "序號": 1,
        "日期": 1140521,
        "時間": "14:30",
        "業務員": "王小明",
        "客戶": "1400001",
        "20公斤": 2,
        "狀態": "COMPLETED",
    }
    return {**row, **(changes or {})}


def mapped(row: dict[str, Any]) -> CustomerRecordFields:
    result = map_customer(row, ZONES)  # type: ignore[arg-type]
    assert isinstance(result, MappedCustomer), result
    return result.fields


def rejected(row: dict[str, Any]) -> dict[str, str]:
    """The rejection's problems, column → reason."""
    result = map_customer(row, ZONES)  # type: ignore[arg-type]
    assert isinstance(result, RejectedRow), result
    return {problem.column: problem.reason for problem in result.problems}


def delivered(row: dict[str, Any], known: set[str] | None = None) -> MappedDelivery:
    result = map_delivery(row, known)  # type: ignore[arg-type]
    assert isinstance(result, MappedDelivery), result
    return result


def delivery_rejected(row: dict[str, Any], known: set[str] | None = None) -> dict[str, str]:
    result = map_delivery(row, known)  # type: ignore[arg-type]
    assert isinstance(result, RejectedRow), result
    return {problem.column: problem.reason for problem in result.problems}


# ---------------------------------------------------------------- customers: a clean row


def test_a_clean_customer_row_maps_to_the_customer_services_fields() -> None:
    result = map_customer(customer_row(), ZONES)  # type: ignore[arg-type]

    assert isinstance(result, MappedCustomer)
    assert result.fields == CustomerRecordFields(
        code="1400001",
        short_name="鐵花小吃",
        invoice_title="鐵花小吃有限公司",
        tax_id="04595257",
        phones=("089322123",),
        address="台東市新生路135巷26號",
        zone="A",
        segment="night_market",
        hourly_windows=tuple(column in OPEN_WINDOWS for column in WINDOW_COLUMNS),
        slot_code=1,
        rest_days="7",
        vehicle_requirement="car",
        cylinders={"cylinder-20-regular": 3},
        consumption_kg_per_day=4.6,
        max_cycle_days=11,
        slip_days=6,
        pricing_method="cylinder",
        payment_terms="cash",
        subscription=True,
        alert_device=True,
    )
    assert (result.terminated, result.same_day) == (False, False)


def test_the_mapped_fields_are_exactly_the_grpc_customer_fields() -> None:
    assert {field.name for field in fields(CustomerRecordFields)} == set(
        customer_pb2.CustomerFields.DESCRIPTOR.fields_by_name
    )


# ---------------------------------------------------------------- customers: phones


@pytest.mark.parametrize(
    ("written", "phones"),
    [
        (89322123, ("089322123",)),  # Excel dropped the 0 of a Taitung landline
        ("89322123", ("089322123",)),
        (912345678, ("0912345678",)),  # and of a mobile
        ("0912-345-678", ("0912345678",)),
        ("89322123/912345678", ("089322123", "0912345678")),
        ("89322123、89322123", ("089322123",)),  # listed twice, kept once
        ("", ()),
        (None, ()),
    ],
)
def test_phones_get_their_leading_zero_back_and_are_checked_by_area_code(written: object, phones: tuple[str]) -> None:
    assert mapped(customer_row({"電話": written})).phones == phones


@pytest.mark.parametrize("written", ["12345", "8932212", "0912-345"])
def test_a_phone_that_fits_no_area_code_rule_is_rejected(written: str) -> None:
    assert "電話" in rejected(customer_row({"電話": written}))


# ---------------------------------------------------------------- customers: numbers Excel left behind


@pytest.mark.parametrize("written", ["#DIV/0!", "", None, " #div/0! "])
def test_div0_or_blank_consumption_reads_as_no_history(written: object) -> None:
    customer = mapped(customer_row({"平均日使用": written, "最大週期": written, "可延後天數": written}))

    assert (customer.consumption_kg_per_day, customer.max_cycle_days, customer.slip_days) == (0.0, 0, 0)


def test_days_written_as_an_average_round_to_whole_days() -> None:
    customer = mapped(customer_row({"最大週期": "10.6", "可延後天數": 2.5, "平均日使用": "17.8"}))

    assert (customer.max_cycle_days, customer.slip_days, customer.consumption_kg_per_day) == (11, 3, 17.8)


@pytest.mark.parametrize(
    ("column", "written", "reason"),
    [
        ("平均日使用", "abc", "must be a number"),
        ("平均日使用", -1, "between 0 and 1000"),
        ("最大週期", 400, "between 0 and 366"),
        ("可延後天數", "#VALUE!", None),
    ],
)
def test_a_number_column_that_is_no_number_is_rejected(column: str, written: object, reason: str | None) -> None:
    problems = rejected(customer_row({column: written}))

    assert list(problems) == [column]
    assert reason is None or reason in problems[column]


# ---------------------------------------------------------------- customers: code, names, tax id


@pytest.mark.parametrize("written", ["", None, "  "])
def test_a_blank_customer_code_is_rejected(written: object) -> None:
    result = map_customer(customer_row({"客戶": written}), ZONES)  # type: ignore[arg-type]

    assert isinstance(result, RejectedRow)
    assert result.key == ""
    assert result.columns == ("客戶",)
    assert "blank" in result.problems[0].reason


@pytest.mark.parametrize("written", ["140001", "14000012", "14O0001"])
def test_a_customer_code_that_is_not_seven_digits_is_rejected(written: str) -> None:
    assert rejected(customer_row({"客戶": written})) == {"客戶": "must be a 7-digit customer code"}


def test_a_numeric_customer_code_from_excel_reads_as_text() -> None:
    assert mapped(customer_row({"客戶": 1400001.0})).code == "1400001"


def test_a_blank_short_name_is_rejected() -> None:
    assert rejected(customer_row({"客戶簡稱": " "})) == {"客戶簡稱": "is blank"}


@pytest.mark.parametrize(
    ("written", "tax_id"),
    [("0459 5257", "04595257"), (" 04595257 ", "04595257"), (4595257, "04595257"), ("", ""), (None, "")],
)
def test_a_tax_id_loses_its_spaces_and_a_dropped_leading_zero_comes_back(written: object, tax_id: str) -> None:
    assert mapped(customer_row({"統一編號": written})).tax_id == tax_id


@pytest.mark.parametrize(("written", "reason"), [("04595258", "checksum failed"), ("4595257", "8 digits")])
def test_a_tax_id_that_fails_its_check_is_rejected(written: str, reason: str) -> None:
    assert reason in rejected(customer_row({"統一編號": written}))["統一編號"]


# ---------------------------------------------------------------- customers: zones


@pytest.mark.parametrize(
    ("written", "zone"), [("A-瑞光", "A"), ("瑞光", "A"), ("A", "A"), ("ａ－瑞光", "A"), ("Y-富岡", "Y")]
)
def test_a_zone_is_read_from_its_label(written: str, zone: str) -> None:
    assert mapped(customer_row({"區域": written})).zone == zone


@pytest.mark.parametrize(("typo", "meant"), sorted(ZONE_TYPOS.items()))
def test_each_known_zone_typo_maps_to_the_zone_meant(typo: str, meant: str) -> None:
    code = next(code for code, name in ZONES.items() if name == meant)

    assert mapped(customer_row({"區域": typo})).zone == code
    assert mapped(customer_row({"區域": f"{code}-{typo}"})).zone == code


def test_the_known_typo_of_luye_line_maps_to_zone_h() -> None:
    assert mapped(customer_row({"區域": "H-鹿野縣"})).zone == "H"


@pytest.mark.parametrize("written", ["綠島", "Z-綠島", "Z", "成功縣"])
def test_an_unknown_zone_is_rejected_naming_the_zones_known(written: str) -> None:
    reason = rejected(customer_row({"區域": written}))["區域"]

    assert "known zones are A-瑞光, B-四維" in reason
    assert "Y-富岡" in reason


def test_a_zone_whose_letter_and_name_disagree_is_rejected() -> None:
    assert rejected(customer_row({"區域": "B-瑞光"})) == {"區域": "B is 四維 but the name says 瑞光 (A)"}


# ---------------------------------------------------------------- customers: cylinders


def test_the_cylinders_text_alone_gives_regular_cylinders_per_size() -> None:
    customer = mapped(customer_row({"系統上鋼瓶數量": "20*5+16*1", "20KG": None}))

    assert customer.cylinders == {"cylinder-16-regular": 1, "cylinder-20-regular": 5}


def test_a_flow_customers_cylinders_are_flow_products() -> None:
    customer = mapped(customer_row({"計價方式": "流量", "系統上鋼瓶數量": "50*2", "20KG": None}))

    assert (customer.pricing_method, customer.cylinders) == ("flow", {"flow-50-regular": 2})


def test_product_columns_that_agree_with_the_text_give_the_grades() -> None:
    customer = mapped(customer_row({"系統上鋼瓶數量": "20*5+4*1", "20KG": 3, "好運20": 1, "營20": 1, "幸福丸": 1}))

    assert customer.cylinders == {"cylinder-20-lucky": 1, "cylinder-20-regular": 3, "happy-4": 1, "propane-20": 1}


def test_product_columns_without_text_are_enough() -> None:
    assert mapped(customer_row({"系統上鋼瓶數量": "", "20KG": None, "50KG": 2})).cylinders == {"cylinder-50-regular": 2}


def test_cylinders_text_that_disagrees_with_the_product_columns_is_rejected() -> None:
    problems = rejected(customer_row({"系統上鋼瓶數量": "20*5+16*1", "20KG": 4}))

    assert problems == {"系統上鋼瓶數量": "says 20*5+16*1 but the product columns say 20*4"}


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("20*", "is not size*count"),
        ("20*5+", "is not size*count"),
        ("20x5", "is not size*count"),
        ("二十*5", "is not size*count"),
        ("25*1", "25 kg is no cylinder size"),
        ("20*0", "counts no cylinder"),
    ],
)
def test_malformed_cylinders_text_is_rejected(written: str, reason: str) -> None:
    assert reason in rejected(customer_row({"系統上鋼瓶數量": written}))["系統上鋼瓶數量"]


def test_full_width_cylinders_text_is_read() -> None:
    assert mapped(customer_row({"系統上鋼瓶數量": "２０＊３"})).cylinders == {"cylinder-20-regular": 3}


@pytest.mark.parametrize("written", ["two", -1, 2.5])
def test_a_product_column_that_is_no_count_is_rejected(written: object) -> None:
    assert list(rejected(customer_row({"20KG": written}))) == ["20KG"]


# ---------------------------------------------------------------- customers: windows, slot, rest days


def test_window_columns_become_twelve_hourly_windows() -> None:
    marked = {column: "1" if column in ("8~9", "19~20") else "" for column in WINDOW_COLUMNS}

    assert mapped(customer_row(marked)).hourly_windows == (True,) + (False,) * 10 + (True,)


def test_no_window_marked_means_any_hour() -> None:
    assert mapped(customer_row(dict.fromkeys(WINDOW_COLUMNS, 0))).hourly_windows == ()


def test_a_window_column_with_a_dirty_value_is_rejected() -> None:
    assert rejected(customer_row({"8~9": "V"})) == {"8~9": "must be 1 (deliverable), 0 or blank"}


@pytest.mark.parametrize(("written", "slot"), [(None, None), ("", None), (0, 0), ("3", 3), (2.0, 2)])
def test_slot_code_is_read_and_blank_is_unset(written: object, slot: int | None) -> None:
    assert mapped(customer_row({"時段早1午2晚3全天0": written})).slot_code == slot


def test_a_slot_code_out_of_range_is_rejected() -> None:
    assert list(rejected(customer_row({"時段早1午2晚3全天0": 4}))) == ["時段早1午2晚3全天0"]


@pytest.mark.parametrize(("written", "rest_days"), [("6.7", "6.7"), (7, "7"), ("見紅休", "見紅休"), (None, "")])
def test_rest_days_keep_the_legacy_notation(written: object, rest_days: str) -> None:
    assert mapped(customer_row({"公休日": written})).rest_days == rest_days


# ---------------------------------------------------------------- customers: flags, choices, termination


@pytest.mark.parametrize(
    ("written", "value"),
    [("V", True), ("v", True), (" V ", True), ("Ｖ", True), (1, True), ("", False), (None, False), ("0", False)],
)
def test_v_flags_read_yes_and_no_through_dirty_spellings(written: object, value: bool) -> None:
    customer = mapped(customer_row({"訂閱式會員": written, "發報": written}))

    assert (customer.subscription, customer.alert_device) == (value, value)


@pytest.mark.parametrize("written", ["VV", "x", "?", "2"])
def test_a_v_flag_that_is_neither_yes_nor_no_is_rejected(written: str) -> None:
    assert rejected(customer_row({"發報": written})) == {"發報": "V means yes, blank means no"}


def test_a_terminated_customer_is_mapped_and_marked_terminated() -> None:
    result = map_customer(customer_row({"已解約": "V"}), ZONES)  # type: ignore[arg-type]

    assert isinstance(result, MappedCustomer)
    assert result.terminated is True


def test_same_day_delivery_is_kept() -> None:
    result = map_customer(customer_row({"需要當天配送": "v"}), ZONES)  # type: ignore[arg-type]

    assert isinstance(result, MappedCustomer)
    assert result.same_day is True


@pytest.mark.parametrize(
    ("column", "written", "attribute", "value"),
    [
        ("類型", None, "segment", "ordinary"),
        ("類型", "辦桌", "segment", "banquet_caterer"),
        ("1汽車/2機車/0全部", 2, "vehicle_requirement", "motorcycle"),
        ("1汽車/2機車/0全部", "0", "vehicle_requirement", "either"),
        ("結帳方式", "收現", "payment_terms", "cash"),
        ("結帳方式", "月結", "payment_terms", "monthly"),
    ],
)
def test_coded_columns_map_to_the_platforms_words(column: str, written: object, attribute: str, value: str) -> None:
    assert getattr(mapped(customer_row({column: written})), attribute) == value


@pytest.mark.parametrize(
    ("column", "written"),
    [("類型", "工廠"), ("1汽車/2機車/0全部", None), ("1汽車/2機車/0全部", 3), ("計價方式", "秤重"), ("結帳方式", "")],
)
def test_an_unknown_code_is_rejected(column: str, written: object) -> None:
    assert list(rejected(customer_row({column: written}))) == [column]


def test_a_dirty_row_is_rejected_whole_with_every_problem_and_its_value() -> None:
    result = map_customer(
        customer_row({"區域": "綠島", "平均日使用": "n/a", "發報": "?", "電話": "123"}),
        ZONES,  # type: ignore[arg-type]
    )

    assert isinstance(result, RejectedRow)
    assert result.key == "1400001"
    assert {(problem.column, problem.value) for problem in result.problems} == {
        ("區域", "綠島"),
        ("平均日使用", "n/a"),
        ("發報", "?"),
        ("電話", "123"),
    }


_phone = st.one_of(
    st.integers(100_000, 999_999).map(lambda local: f"89{local}"),  # Taitung without its 0
    st.integers(10_000_000, 99_999_999).map(lambda local: f"9{local}"),  # a mobile without its 0
)


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(sorted(ZONES.items())),
    phones=st.lists(_phone, max_size=3),
    windows=st.lists(st.sampled_from([0, 1, None, "1", "0"]), min_size=12, max_size=12),
    flags=st.lists(st.sampled_from(["V", "v", "", None, "0"]), min_size=4, max_size=4),
    counts=st.dictionaries(st.sampled_from([4, 10, 16, 20, 50]), st.integers(1, 20), max_size=3),
    pricing=st.sampled_from(["桶裝", "流量"]),
    slot=st.sampled_from([None, 0, 1, 2, 3]),
    kg=st.one_of(st.just("#DIV/0!"), st.floats(0, 100, allow_nan=False)),
)
def test_any_clean_generated_customer_row_maps_without_rejection(
    zone: tuple[str, str],
    phones: list[str],
    windows: list[object],
    flags: list[object],
    counts: dict[int, int],
    pricing: str,
    slot: int | None,
    kg: object,
) -> None:
    row = customer_row(
        {
            "區域": f"{zone[0]}-{zone[1]}",
            "電話": "/".join(phones),
            **dict(zip(WINDOW_COLUMNS, windows, strict=True)),
            **dict(zip(("訂閱式會員", "發報", "已解約", "需要當天配送"), flags, strict=True)),
            "系統上鋼瓶數量": "+".join(f"{size}*{count}" for size, count in counts.items()),
            "20KG": None,
            "計價方式": pricing,
            "時段早1午2晚3全天0": slot,
            "平均日使用": kg,
        }
    )

    customer = mapped(row)

    assert customer.zone == zone[0]
    assert sum(customer.cylinders.values()) == sum(counts.values())
    assert all(phone.startswith("0") for phone in customer.phones)


# ---------------------------------------------------------------- deliveries: dates and times


@pytest.mark.parametrize(
    ("written", "day"),
    [
        (1140521, date(2025, 5, 21)),  # ROC 7 digits
        ("1140521", date(2025, 5, 21)),
        (990101, date(2010, 1, 1)),  # ROC before year 100: 6 digits
        ("114/05/21", date(2025, 5, 21)),
        (45799, date(2025, 5, 22)),  # an Excel serial
        (45799.75, date(2025, 5, 22)),
        ("45799", date(2025, 5, 22)),
        (datetime(2025, 5, 22, 9, 30), date(2025, 5, 22)),  # a cell Excel typed as a date
    ],
)
def test_a_delivery_date_is_read_as_roc_or_excel_serial(written: object, day: date) -> None:
    assert delivered(delivery_row({"日期": written})).day == day


@pytest.mark.parametrize("written", [1141332, "abc", None, 60, "114/13/01"])
def test_a_delivery_date_that_is_no_date_is_rejected(written: object) -> None:
    assert list(delivery_rejected(delivery_row({"日期": written}))) == ["日期"]


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=date(1921, 1, 1), max_value=date(2099, 12, 31)))
def test_any_roc_or_serial_date_reads_back_as_the_same_day(day: date) -> None:
    """ROC year 10 (1921) is the earliest the helpers accept: nothing in the business is older."""
    assert delivered(delivery_row({"日期": date_to_roc(day)})).day == day
    assert delivered(delivery_row({"日期": date_to_excel_serial(day)})).day == day


@pytest.mark.parametrize(
    ("written", "at"),
    [("14:30", time(14, 30)), ("9:05:10", time(9, 5, 10)), (0.5, time(12)), (time(8, 15), time(8, 15)), (None, None)],
)
def test_a_delivery_time_is_read(written: object, at: time | None) -> None:
    assert delivered(delivery_row({"時間": written})).time == at


def test_a_delivery_time_that_is_no_time_is_rejected() -> None:
    assert list(delivery_rejected(delivery_row({"時間": "25:00"}))) == ["時間"]


# ---------------------------------------------------------------- deliveries: products, kg and empties


def test_a_clean_delivery_row_maps_to_a_delivered_order() -> None:
    assert delivered(delivery_row({"丙烷16": 1, "幸福丸4": "3"})) == MappedDelivery(
        legacy_id=1,
        customer_code="1400001",
        day=date(2025, 5, 21),
        time=time(14, 30),
        salesperson="王小明",
        status="delivered",
        failure_reason=None,
        items={"cylinder-20-regular": 2, "propane-16": 1, "happy-4": 3},
    )


def test_metered_products_carry_the_kg_read_off_the_meter() -> None:
    delivery = delivered(delivery_row({"20公斤": 0, "流量20公斤": Decimal("18.5"), "流量好運16公斤": "7"}))

    assert delivery.items == {}
    assert delivery.metered_kg == {"flow-20-regular": 18.5, "flow-16-lucky": 7.0}


def test_negative_metered_kg_is_rejected() -> None:
    assert list(delivery_rejected(delivery_row({"流量50公斤": -3}))) == ["流量50公斤"]


def test_returned_empties_become_empties_of_the_products_delivered() -> None:
    delivery = delivered(delivery_row({"20公斤": 2, "好運桶20": 1, "回收20公斤": 3, "4公斤": 1, "回收4公斤": 1}))

    assert delivery.empties == {"cylinder-20-regular": 2, "cylinder-20-lucky": 1, "cylinder-4-regular": 1}


def test_fewer_empties_than_deliveries_fill_the_first_product_of_the_size() -> None:
    delivery = delivered(delivery_row({"20公斤": 2, "好運桶20": 1, "回收20公斤": 2}))

    assert delivery.empties == {"cylinder-20-regular": 2}


def test_returns_exceeding_deliveries_are_rejected() -> None:
    problems = delivery_rejected(delivery_row({"20公斤": 2, "回收20公斤": 3, "回收50公斤": 1}))

    assert problems == {
        "回收20公斤": "3 empties of 20 kg returned but 2 delivered",
        "回收50公斤": "1 empties of 50 kg returned but 0 delivered",
    }


def test_empties_on_a_delivery_that_did_not_take_place_are_rejected() -> None:
    problems = delivery_rejected(delivery_row({"狀態": "NOT_HOME", "回收20公斤": 1}))

    assert problems == {"回收20公斤": "empties recorded on a delivery that did not take place"}


@pytest.mark.parametrize(
    ("column", "written"), [("20公斤", "abc"), ("好運桶16", -1), ("50公斤", 1.5), ("回收16公斤", "x")]
)
def test_a_product_column_value_that_is_no_count_is_rejected(column: str, written: object) -> None:
    assert column in delivery_rejected(delivery_row({column: written}))


def test_more_than_an_order_line_holds_is_rejected() -> None:
    assert delivery_rejected(delivery_row({"20公斤": 101})) == {"20公斤": "an order line holds 1 to 100 cylinders"}


def test_a_delivery_of_nothing_is_rejected() -> None:
    assert delivery_rejected(delivery_row({"20公斤": 0})) == {
        "數量": "no product delivered: every quantity column is 0"
    }


# ---------------------------------------------------------------- deliveries: status and customer


@pytest.mark.parametrize(
    ("legacy", "status", "reason"),
    [
        ("PENDING", "pending", None),
        ("ASSIGNED", "assigned", None),
        ("IN_PROGRESS", "in_delivery", None),
        ("COMPLETED", "delivered", None),
        ("FAILED", "failed", None),
        ("CANCELLED", "cancelled", None),
        ("NOT_HOME", "failed", "not_home"),
        ("REFUSED", "failed", "refused"),
    ],
)
def test_each_legacy_status_maps_to_an_order_status(legacy: str, status: str, reason: str | None) -> None:
    delivery = delivered(delivery_row({"狀態": legacy}))

    assert (delivery.status, delivery.failure_reason) == (status, reason)


def test_every_legacy_status_is_mapped() -> None:
    legacy = ("PENDING", "ASSIGNED", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED", "NOT_HOME", "REFUSED")

    assert set(STATUS_MAP) == set(legacy)


def test_a_status_is_read_whatever_its_case_and_blanks() -> None:
    assert delivered(delivery_row({"狀態": " completed "})).status == "delivered"


@pytest.mark.parametrize("written", ["DONE", "", None])
def test_an_unknown_or_blank_status_is_rejected(written: object) -> None:
    assert list(delivery_rejected(delivery_row({"狀態": written}))) == ["狀態"]


def test_history_of_an_unknown_customer_is_rejected_not_invented() -> None:
    problems = delivery_rejected(delivery_row({"客戶": "1999999"}), known={"1400001"})

    assert list(problems) == ["客戶"]
    assert problems["客戶"].startswith("unknown customer")


def test_history_of_a_known_customer_is_mapped() -> None:
    assert delivered(delivery_row(), known={"1400001"}).customer_code == "1400001"


def test_a_delivery_row_without_customer_code_is_rejected() -> None:
    result = map_delivery(delivery_row({"客戶": None}))  # type: ignore[arg-type]

    assert isinstance(result, RejectedRow)
    assert (result.key, result.columns) == ("1", ("客戶",))
