"""Input checks of the tracking service: each names the field and the reason, so a caller can fix them all at once."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from services.platform.errors import FieldViolation, InvalidArgument
from services.tracking.schemas import DriverInput, FixInput

VEHICLE_KINDS = ("small_truck", "medium_truck", "van", "motorcycle")
USERNAME = re.compile(r"[A-Za-z0-9_.-]{1,50}")
MOBILE = re.compile(r"09\d{8}")
MAX_NAME = 100
MAX_BATCH_ID = 100
MAX_FIXES = 2000
# A phone's clock may run a little ahead; a fix older than a week is not a backlog any more but a broken phone.
MAX_AHEAD = timedelta(minutes=5)
MAX_AGE = timedelta(days=7)
# An answer lists this many violations at most (the rest are counted): they travel in gRPC trailing metadata,
# which peers cap at a few kilobytes, and 2,000 bad fixes would not fit.
MAX_LISTED_VIOLATIONS = 20


def check_username(username: str, field: str, found: list[FieldViolation] | None = None) -> None:
    """A login name as the gateway issues them; raises at once when no list to collect into is given."""
    if USERNAME.fullmatch(username):
        return
    violation = FieldViolation(field, "is required: 1-50 letters, digits, '.', '_' or '-'")
    if found is None:
        raise InvalidArgument.from_violations([violation])
    found.append(violation)


def check_moment(moment: datetime, now: datetime, field: str, found: list[FieldViolation]) -> None:
    if moment > now + MAX_AHEAD:
        found.append(FieldViolation(field, "must not be more than 5 minutes ahead of the server's clock"))
    elif moment < now - MAX_AGE:
        found.append(FieldViolation(field, "must not be more than 7 days old"))


def mobile_number(text: str) -> str | None:
    """A Taiwanese mobile number as 09XX-XXX-XXX, from digits with or without dashes and spaces; else None."""
    digits = re.sub(r"[\s-]", "", text)
    if not MOBILE.fullmatch(digits):
        return None
    return f"{digits[:4]}-{digits[4:7]}-{digits[7:]}"


def check_driver(driver: DriverInput) -> DriverInput:
    """The driver with its phone number in the standard form, or every problem at once."""
    found: list[FieldViolation] = []
    check_username(driver.username, "driver.username", found)
    name = driver.name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        found.append(FieldViolation("driver.name", f"is required, at most {MAX_NAME} characters"))
    phone = mobile_number(driver.phone)
    if phone is None:
        found.append(FieldViolation("driver.phone", "a mobile number: 09 and 8 digits, e.g. 0912-345-678"))
    if driver.vehicle_kind not in VEHICLE_KINDS:
        found.append(FieldViolation("driver.vehicle_kind", f"one of {', '.join(VEHICLE_KINDS)}"))
    if found:
        raise InvalidArgument.from_violations(found)
    assert phone is not None
    return DriverInput(driver.username, name, phone, driver.vehicle_kind)


def _finite_between(value: float, low: float, high: float) -> bool:
    return math.isfinite(value) and low <= value <= high


def check_fix(fix: FixInput, index: int, now: datetime, found: list[FieldViolation]) -> None:
    prefix = f"fixes[{index}]."
    if not _finite_between(fix.latitude, -90, 90):
        found.append(FieldViolation(f"{prefix}latitude", "must be between -90 and 90"))
    if not _finite_between(fix.longitude, -180, 180):
        found.append(FieldViolation(f"{prefix}longitude", "must be between -180 and 180"))
    if not _finite_between(fix.accuracy_m, 0, math.inf):
        found.append(FieldViolation(f"{prefix}accuracy_m", "must be 0 or more metres"))
    if fix.speed_mps != -1 and not _finite_between(fix.speed_mps, 0, math.inf):
        found.append(FieldViolation(f"{prefix}speed_mps", "must be 0 or more m/s, or -1 when unknown"))
    if fix.heading_deg != -1 and not _finite_between(fix.heading_deg, 0, 360):
        found.append(FieldViolation(f"{prefix}heading_deg", "must be from 0 to 360 degrees, or -1 when unknown"))
    if not _finite_between(fix.battery, 0, 1):
        found.append(FieldViolation(f"{prefix}battery", "must be from 0 to 1"))
    if fix.device_time is None:
        found.append(FieldViolation(f"{prefix}device_time", "is required"))
    else:
        check_moment(fix.device_time, now, f"{prefix}device_time", found)


def check_batch(driver: str, batch_id: str, fixes: Sequence[FixInput], now: datetime) -> list[FieldViolation]:
    """Everything wrong with a batch that can be seen without the database."""
    found: list[FieldViolation] = []
    check_username(driver, "driver", found)
    if not 1 <= len(batch_id) <= MAX_BATCH_ID or not batch_id.strip():
        found.append(FieldViolation("batch_id", f"is required, at most {MAX_BATCH_ID} characters"))
    if not 1 <= len(fixes) <= MAX_FIXES:
        # Too many: the fixes themselves are not looked at (the phone must split the batch anyway).
        found.append(FieldViolation("fixes", f"from 1 to {MAX_FIXES} fixes per batch, not {len(fixes)}"))
        return found
    for index, fix in enumerate(fixes):
        check_fix(fix, index, now, found)
    return found


def listed(violations: Sequence[FieldViolation]) -> list[FieldViolation]:
    """The violations an answer carries: all of them, or the first ones and how many more there are."""
    if len(violations) <= MAX_LISTED_VIOLATIONS:
        return list(violations)
    shown = list(violations[: MAX_LISTED_VIOLATIONS - 1])
    more = len(violations) - len(shown)
    return [*shown, FieldViolation("fixes", f"{more} more invalid fields not listed")]
