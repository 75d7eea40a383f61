"""create tracking tables: drivers, position batches, positions, routes, stop progress, delivery outcomes, outbox,
handled events

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


def upgrade() -> None:
    op.create_table(
        "delivery_outcomes",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('delivered', 'failed', 'cancelled')", name=op.f("ck_delivery_outcomes_known_status")
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_delivery_outcomes")),
        schema="tracking",
    )
    op.create_table(
        "drivers",
        sa.Column("username", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=12), nullable=False),
        sa.Column("vehicle_kind", sa.String(length=20), nullable=False),
        sa.Column("on_road", sa.Boolean(), nullable=False),
        sa.Column("clocked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("clocked_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sa.String(length=50), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_drivers")),
        schema="tracking",
    )
    op.create_table(
        "handled_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("consumer_group", sa.String(length=100), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "consumer_group", name=op.f("pk_handled_events")),
        schema="tracking",
    )
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
        schema="tracking",
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["position"],
        unique=False,
        schema="tracking",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "position_batches",
        sa.Column("driver", sa.String(length=50), nullable=False),
        sa.Column("batch_id", sa.String(length=100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("driver", "batch_id", name=op.f("pk_position_batches")),
        schema="tracking",
    )
    op.create_table(
        "positions",
        sa.Column("driver", sa.String(length=50), nullable=False),
        sa.Column("device_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=False),
        sa.Column("speed_mps", sa.Float(), nullable=False),
        sa.Column("heading_deg", sa.Float(), nullable=False),
        sa.Column("battery", sa.Float(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("driver", "device_time", name=op.f("pk_positions")),
        schema="tracking",
    )
    op.create_table(
        "routes",
        sa.Column("route_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("driver", sa.String(length=50), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("vehicle_plate", sa.String(length=20), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("stops", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("route_id", name=op.f("pk_routes")),
        schema="tracking",
    )
    op.create_index("ix_routes_driver_date", "routes", ["driver", "date"], unique=False, schema="tracking")
    op.create_table(
        "stop_progress",
        sa.Column("route_id", sa.Uuid(), nullable=False),
        sa.Column("stop_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("arrived_by", sa.String(length=10), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("arrived_by IN ('', 'position', 'driver')", name=op.f("ck_stop_progress_known_arrived_by")),
        sa.CheckConstraint(
            "status IN ('planned', 'arrived', 'delivered', 'failed', 'cancelled')",
            name=op.f("ck_stop_progress_known_status"),
        ),
        sa.PrimaryKeyConstraint("route_id", "stop_id", name=op.f("pk_stop_progress")),
        schema="tracking",
    )
    op.create_index("ix_stop_progress_order_id", "stop_progress", ["order_id"], unique=False, schema="tracking")
    op.create_index("ix_stop_progress_stop_id", "stop_progress", ["stop_id"], unique=False, schema="tracking")


def downgrade() -> None:
    op.drop_index("ix_stop_progress_stop_id", table_name="stop_progress", schema="tracking")
    op.drop_index("ix_stop_progress_order_id", table_name="stop_progress", schema="tracking")
    op.drop_table("stop_progress", schema="tracking")
    op.drop_index("ix_routes_driver_date", table_name="routes", schema="tracking")
    op.drop_table("routes", schema="tracking")
    op.drop_table("positions", schema="tracking")
    op.drop_table("position_batches", schema="tracking")
    op.drop_index(
        "ix_outbox_unpublished",
        table_name="outbox",
        schema="tracking",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox", schema="tracking")
    op.drop_table("handled_events", schema="tracking")
    op.drop_table("drivers", schema="tracking")
    op.drop_table("delivery_outcomes", schema="tracking")
