"""legacy orders: orders.legacy_id (the legacy 序號, unique), orders.metered (flow kg), longer order numbers

Imported orders are numbered LEGACY-<legacy id> (up to 26 characters), hence number varchar(30); widening a
varchar is a catalogue change in Postgres, no table rewrite.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "order"


def upgrade() -> None:
    op.add_column("orders", sa.Column("legacy_id", sa.BigInteger(), nullable=True), schema=SCHEMA)
    op.add_column(
        "orders",
        sa.Column("metered", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        schema=SCHEMA,
    )
    op.create_unique_constraint(op.f("uq_orders_legacy_id"), "orders", ["legacy_id"], schema=SCHEMA)
    op.alter_column("orders", "number", type_=sa.String(length=30), existing_type=sa.String(length=20), schema=SCHEMA)


def downgrade() -> None:
    op.alter_column("orders", "number", type_=sa.String(length=20), existing_type=sa.String(length=30), schema=SCHEMA)
    op.drop_constraint(op.f("uq_orders_legacy_id"), "orders", schema=SCHEMA)
    op.drop_column("orders", "metered", schema=SCHEMA)
    op.drop_column("orders", "legacy_id", schema=SCHEMA)
