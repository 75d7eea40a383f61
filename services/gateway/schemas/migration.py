"""Bodies of ``/api/v1/migration``: where the move off the legacy system stands, backfill, reconcile, cutovers and
conflicts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from services.gateway.schemas.common import Strict, example

# The tables migration-sync keeps in step: legacy 客戶資料 ↔ customers, legacy 配送紀錄 ↔ orders.
Table = Literal["customers", "deliveries"]
Resolution = Literal["keep_primary", "take_other", "edit"]
FieldName = Annotated[str, Field(min_length=1, max_length=100)]


class TableStatusOut(BaseModel):
    table: str
    legacy_rows: int = Field(description="rows in the legacy table now")
    migrated: int = Field(description="rows the new platform holds for them")
    rejected: int = Field(description="rows the mapping refused (see /migration/backfill/rejections)")
    pending: int = Field(description="rows not yet backfilled")


class SyncLagOut(BaseModel):
    direction: str = Field(description="legacy_to_new | new_to_legacy")
    seconds: float = Field(description="age of the oldest change not yet applied; 0 when caught up")
    pending: int = Field(description="changes waiting")


class TableProgressOut(BaseModel):
    table: str
    state: str = Field(description="pending | running | done | failed")
    total: int
    done: int = Field(description="rows gone through: done = migrated + rejected")
    migrated: int
    rejected: int
    rows_per_second: float
    eta_seconds: float = Field(description="0 when done or unknown")
    error: str = Field(description="why a failed table stopped")


class BackfillOut(BaseModel):
    state: str = Field(description="idle | running | done | failed")
    dry_run: bool
    tables: list[TableProgressOut]
    started_at: datetime | None
    finished_at: datetime | None


class MigrationStatusOut(BaseModel):
    tables: list[TableStatusOut]
    legacy_primary_customers: int
    new_primary_customers: int
    lag: list[SyncLagOut]
    open_conflicts: int
    backfill: BackfillOut | None


class BackfillIn(Strict):
    model_config = example({"tables": ["customers"], "dry_run": True})

    tables: list[Table] = Field(default_factory=list, max_length=2, description="empty: customers, then deliveries")
    dry_run: bool = Field(False, description="report what would be created and rejected; change nothing")


class ProblemOut(BaseModel):
    column: str = Field(description="the legacy column, as the office names it")
    value: str = Field(description="the value as written")
    reason: str


class RejectionOut(BaseModel):
    table: str
    key: str = Field(description="customer code or 序號 as written; empty when blank")
    problems: list[ProblemOut]
    dry_run: bool


class RejectionPage(BaseModel):
    rejections: list[RejectionOut]
    next_page_token: str | None
    total: int


class ReconcileIn(Strict):
    model_config = example({"table": "customers", "repair": False})

    table: Table
    repair: bool = Field(False, description="re-sync each difference from its customer's primary side")


class FieldDifferenceOut(BaseModel):
    field: str
    legacy: str
    new: str


class RowDifferenceOut(BaseModel):
    key: str
    kind: str = Field(description="only_legacy | only_new | different")
    fields: list[FieldDifferenceOut]
    repaired: bool
    customer_code: str
    primary: str = Field(description="legacy | new: the side a repair copies from")


class ReconcileReportOut(BaseModel):
    id: str
    table: str
    trigger: str = Field(description="manual | scheduled | cutover | rollback")
    repair: bool
    started_at: datetime | None
    finished_at: datetime | None
    legacy_rows: int
    new_rows: int
    differences: int = Field(description="how many rows differ (rows may list fewer)")
    rows: list[RowDifferenceOut] = Field(description="the differing rows; empty in a list of reports")
    checksum_calls: int
    rows_fetched: int
    seconds: float
    rejected_rows: int = Field(description="legacy rows the mapping refuses: known, not counted as differences")


class ReconcileReportPage(BaseModel):
    reports: list[ReconcileReportOut]
    next_page_token: str | None


class CutoverOut(BaseModel):
    id: str
    customer_code: str
    kind: str = Field(description="cutover | rollback")
    outcome: str = Field(description="running | done | failed")
    started_at: datetime | None
    finished_at: datetime | None
    sync_seconds: float
    verify_seconds: float
    total_seconds: float
    detail: str = Field(description="what a failed verification found")
    rows_synced: int


class CutoverPage(BaseModel):
    cutovers: list[CutoverOut]
    next_page_token: str | None


class FieldConflictOut(BaseModel):
    field: str
    primary: str = Field(description="the value on the primary side")
    other: str = Field(description="the value written on the other side")


class ConflictOut(BaseModel):
    id: str
    table: str
    key: str
    customer_code: str
    primary: str = Field(description="legacy | new")
    fields: list[FieldConflictOut]
    state: str = Field(description="open | resolved")
    resolution: str | None = Field(description="keep_primary | take_other | edit; null while open")
    detected_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    values: dict[str, str] = Field(description="what an edit set, by field")


class ConflictPage(BaseModel):
    conflicts: list[ConflictOut]
    next_page_token: str | None


class ResolveIn(Strict):
    model_config = example({"resolution": "edit", "values": {"phones": "089-322-123"}})

    resolution: Resolution = Field(
        description="keep_primary: the primary side's values stay; take_other: the other side's win; edit: values"
    )
    values: dict[FieldName, str] = Field(
        default_factory=dict,
        max_length=100,
        validate_default=True,
        description="edit only: field → value, applied to both sides",
    )

    @field_validator("values")
    @classmethod
    def _values_only_for_an_edit(cls, values: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        resolution = info.data.get("resolution")  # absent when it was itself refused
        if resolution == "edit" and not values:
            raise ValueError("an edit names at least one field and its new value")
        if resolution in ("keep_primary", "take_other") and values:
            raise ValueError(f"only an edit sets values, not {resolution}")
        return values
