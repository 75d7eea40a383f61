"""demo price list effective 2025-01-01 (NT$, excluding VAT): every product code of the catalogue

Prices are configuration: a price change is a new dated list (a new migration, or OrderService.add_price_list);
orders keep the prices they were taken at. The values are plausible Taitung retail prices, not the company's.

Revision ID: 0002
Revises: 0001
"""

import datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EFFECTIVE_FROM = datetime.date(2025, 1, 1)
URGENT_SURCHARGE = 200
SIZES = (4, 10, 16, 20, 50)
# Per cylinder, by grade and size: 一般 (regular), 好運 (lucky), 瓶安 (safe).
CYLINDER_PRICES = {
    "regular": {4: 190, 10: 400, 16: 610, 20: 760, 50: 1850},
    "lucky": {4: 200, 10: 420, 16: 640, 20: 800, 50: 1950},
    "safe": {4: 210, 10: 440, 16: 670, 20: 840, 50: 2050},
}
# Flow (metered) installations pay per kg of gas, by grade.
FLOW_PRICE_PER_KG = {"regular": 36, "lucky": 38, "safe": 40}
# The special SKUs: 營20 / 營16 commercial propane and the 幸福丸 4 kg cylinder.
SPECIAL_PRICES = {"propane-20": (820, 20), "propane-16": (660, 16), "happy-4": (230, 4)}
DEPOSIT_BY_SIZE = {4: 600, 10: 1000, 16: 1300, 20: 1500, 50: 2500}

price_lists = sa.table(
    "price_lists",
    sa.column("id", sa.Integer),
    sa.column("effective_from", sa.Date),
    sa.column("urgent_surcharge", sa.BigInteger),
    sa.column("note", sa.String),
    schema="order",
)
prices = sa.table(
    "prices",
    sa.column("price_list_id", sa.Integer),
    sa.column("product", sa.String),
    sa.column("unit_price", sa.BigInteger),
    sa.column("deposit", sa.BigInteger),
    sa.column("unit", sa.String),
    schema="order",
)


def _rows(price_list_id: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for grade, by_size in CYLINDER_PRICES.items():
        for size in SIZES:
            rows.append(
                {
                    "price_list_id": price_list_id,
                    "product": f"cylinder-{size}-{grade}",
                    "unit_price": by_size[size],
                    "deposit": DEPOSIT_BY_SIZE[size],
                    "unit": "cylinder",
                }
            )
            rows.append(
                {
                    "price_list_id": price_list_id,
                    "product": f"flow-{size}-{grade}",
                    "unit_price": FLOW_PRICE_PER_KG[grade],
                    "deposit": DEPOSIT_BY_SIZE[size],
                    "unit": "kg",
                }
            )
    for product, (price, size) in SPECIAL_PRICES.items():
        rows.append(
            {
                "price_list_id": price_list_id,
                "product": product,
                "unit_price": price,
                "deposit": DEPOSIT_BY_SIZE[size],
                "unit": "cylinder",
            }
        )
    return rows


def upgrade() -> None:
    price_list_id = (
        op.get_bind()
        .execute(
            sa.insert(price_lists)
            .values(effective_from=EFFECTIVE_FROM, urgent_surcharge=URGENT_SURCHARGE, note="示範價目表 demo prices")
            .returning(price_lists.c.id)
        )
        .scalar_one()
    )
    op.bulk_insert(prices, _rows(price_list_id))


def downgrade() -> None:
    op.execute(sa.delete(price_lists).where(price_lists.c.effective_from == EFFECTIVE_FROM))
