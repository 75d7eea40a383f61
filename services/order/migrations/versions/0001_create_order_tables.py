"""create order tables: price lists, orders and items, deliveries, refills, number counters, seeds, outbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "order"


def upgrade() -> None:
    op.create_table(
        "price_lists",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("urgent_surcharge", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("urgent_surcharge >= 0", name=op.f("ck_price_lists_urgent_surcharge_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_lists")),
        sa.UniqueConstraint("effective_from", name=op.f("uq_price_lists_effective_from")),
        schema=SCHEMA,
    )
    op.create_table(
        "prices",
        sa.Column("price_list_id", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=40), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("deposit", sa.BigInteger(), nullable=False),
        sa.Column("unit", sa.String(length=10), nullable=False),
        sa.CheckConstraint("unit IN ('cylinder', 'kg')", name=op.f("ck_prices_unit_known")),
        sa.CheckConstraint("unit_price >= 0 AND deposit >= 0", name=op.f("ck_prices_amounts_not_negative")),
        sa.ForeignKeyConstraint(
            ["price_list_id"],
            ["order.price_lists.id"],
            name=op.f("fk_prices_price_list_id_price_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("price_list_id", "product", name=op.f("pk_prices")),
        schema=SCHEMA,
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("customer_code", sa.String(length=7), nullable=False),
        sa.Column("customer_zone", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("scheduled_date", sa.Date(), nullable=False),
        sa.Column("window_start", sa.Time(), nullable=False),
        sa.Column("window_end", sa.Time(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("additional", sa.Boolean(), nullable=False),
        sa.Column("payment_method", sa.String(length=10), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("price_list_id", sa.Integer(), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("urgent_surcharge", sa.BigInteger(), nullable=False),
        sa.Column("vat", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("credit_override_by", sa.String(length=64), nullable=True),
        sa.Column("credit_override_reason", sa.String(length=300), nullable=True),
        sa.Column("cancel_reason", sa.String(length=300), nullable=False),
        sa.Column("failure_reason", sa.String(length=20), nullable=False),
        sa.Column("route_id", sa.String(length=100), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("create_request_id", sa.String(length=200), nullable=False),
        sa.Column("create_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'assigned', 'in_delivery', 'delivered', 'cancelled', 'failed')",
            name=op.f("ck_orders_status_known"),
        ),
        sa.CheckConstraint("payment_method IN ('cash', 'monthly')", name=op.f("ck_orders_payment_method_known")),
        sa.CheckConstraint("window_start < window_end", name=op.f("ck_orders_window_ordered")),
        sa.CheckConstraint(
            "subtotal >= 0 AND urgent_surcharge >= 0 AND vat >= 0 AND total >= 0", name=op.f("ck_orders_amounts_ok")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_orders_version_positive")),
        sa.ForeignKeyConstraint(
            ["price_list_id"], ["order.price_lists.id"], name=op.f("fk_orders_price_list_id_price_lists")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("create_request_id", name=op.f("uq_orders_create_request_id")),
        sa.UniqueConstraint("number", name=op.f("uq_orders_number")),
        schema=SCHEMA,
    )
    op.create_index("ix_orders_scheduled_date_number", "orders", ["scheduled_date", "number"], schema=SCHEMA)
    op.create_index("ix_orders_customer_id_scheduled_date", "orders", ["customer_id", "scheduled_date"], schema=SCHEMA)
    op.create_table(
        "order_items",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=40), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("line_total", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity BETWEEN 1 AND 100", name=op.f("ck_order_items_quantity_range")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["order.orders.id"], name=op.f("fk_order_items_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("order_id", "position", name=op.f("pk_order_items")),
        schema=SCHEMA,
    )
    op.create_table(
        "deliveries",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("request_id", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("recipient_name", sa.String(length=100), nullable=False),
        sa.Column("signature_png", sa.LargeBinary(), nullable=True),
        sa.Column("photo", sa.LargeBinary(), nullable=True),
        sa.Column("photo_content_type", sa.String(length=20), nullable=False),
        sa.Column("delivered", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("empties_received", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("residual_gas_kg", sa.Float(), nullable=False),
        sa.Column("cash_collected", sa.BigInteger(), nullable=False),
        sa.Column("failure_reason", sa.String(length=20), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("outcome IN ('delivered', 'failed')", name=op.f("ck_deliveries_outcome_known")),
        sa.CheckConstraint(
            "residual_gas_kg >= 0 AND cash_collected >= 0", name=op.f("ck_deliveries_amounts_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["order.orders.id"], name=op.f("fk_deliveries_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_deliveries")),
        schema=SCHEMA,
    )
    op.create_table(
        "customer_refills",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("last_delivered_on", sa.Date(), nullable=False),
        sa.Column("kg_delivered", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_refills")),
        schema=SCHEMA,
    )
    op.create_table(
        "order_number_counters",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_order_number_counters")),
        schema=SCHEMA,
    )
    op.create_table(
        "seed_runs",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_seed_runs")),
        schema=SCHEMA,
    )
    # The transactional outbox (services/platform/outbox.py): events committed with the change, relayed to Redis.
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("stream", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("aggregate_id", sa.String(length=100), nullable=False),
        sa.Column("aggregate_version", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("trace_context", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["position"],
        schema=SCHEMA,
        postgresql_where=sa.text("published_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_unpublished", table_name="outbox", schema=SCHEMA)
    for table in (
        "outbox",
        "seed_runs",
        "order_number_counters",
        "customer_refills",
        "deliveries",
        "order_items",
        "orders",
        "prices",
        "price_lists",
    ):
        op.drop_table(table, schema=SCHEMA)
