"""create routing tables: depots, vehicles, shifts, plans, routes, stops, outbox, handled events

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
        "depots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=30), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_depots")),
        sa.UniqueConstraint("code", name=op.f("uq_depots_code")),
        schema="routing",
    )
    op.create_table(
        "handled_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("consumer_group", sa.String(length=100), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "consumer_group", name=op.f("pk_handled_events")),
        schema="routing",
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
        schema="routing",
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["position"],
        unique=False,
        schema="routing",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("request_id", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.String(length=50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("time_budget_seconds", sa.Float(), nullable=False),
        sa.Column("solver", sa.String(length=30), nullable=False),
        sa.Column("solve_seconds", sa.Float(), nullable=False),
        sa.Column("travel_source", sa.String(length=20), nullable=False),
        sa.Column("degraded", sa.Boolean(), nullable=False),
        sa.Column("degraded_reason", sa.Text(), nullable=False),
        sa.Column("unplaced", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("depot", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("request_id", name=op.f("uq_plans_request_id")),
        schema="routing",
    )
    op.create_index("ix_plans_date", "plans", ["date", "created_at"], unique=False, schema="routing")
    op.create_index(
        "uq_plans_published_date",
        "plans",
        ["date"],
        unique=True,
        schema="routing",
        postgresql_where=sa.text("status = 'published'"),
    )
    op.create_table(
        "routes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("vehicle_plate", sa.String(length=20), nullable=False),
        sa.Column("vehicle_kind", sa.String(length=20), nullable=False),
        sa.Column("driver", sa.String(length=50), nullable=False),
        sa.Column("shift", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("distance_m", sa.BigInteger(), nullable=False),
        sa.Column("duration_s", sa.BigInteger(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lunch_start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("load", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("load_kg", sa.Integer(), nullable=False),
        sa.Column("timeline", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["routing.plans.id"], name=op.f("fk_routes_plan_id_plans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routes")),
        schema="routing",
    )
    op.create_index("ix_routes_driver_date", "routes", ["driver", "date"], unique=False, schema="routing")
    op.create_index(op.f("ix_routing_routes_plan_id"), "routes", ["plan_id"], unique=False, schema="routing")
    op.create_table(
        "vehicles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plate", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("capacity", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("max_load_kg", sa.Integer(), nullable=False),
        sa.Column("depot_id", sa.Uuid(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("max_load_kg > 0", name=op.f("ck_vehicles_max_load_positive")),
        sa.ForeignKeyConstraint(["depot_id"], ["routing.depots.id"], name=op.f("fk_vehicles_depot_id_depots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicles")),
        sa.UniqueConstraint("plate", name=op.f("uq_vehicles_plate")),
        schema="routing",
    )
    op.create_table(
        "shifts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=False),
        sa.Column("driver", sa.String(length=50), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("lunch_start", sa.Time(), nullable=True),
        sa.Column("lunch_latest_start", sa.Time(), nullable=True),
        sa.Column("lunch_minutes", sa.Integer(), nullable=False),
        sa.Column("max_driving_minutes", sa.Integer(), nullable=False),
        sa.CheckConstraint("start_time < end_time", name=op.f("ck_shifts_starts_before_end")),
        sa.ForeignKeyConstraint(["vehicle_id"], ["routing.vehicles.id"], name=op.f("fk_shifts_vehicle_id_vehicles")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shifts")),
        sa.UniqueConstraint("driver", "date", name="one_per_driver_and_day"),
        sa.UniqueConstraint("vehicle_id", "date", name="one_per_vehicle_and_day"),
        schema="routing",
    )
    op.create_index("ix_shifts_date", "shifts", ["date"], unique=False, schema="routing")
    op.create_table(
        "stops",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("route_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("order_number", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("customer_code", sa.String(length=7), nullable=False),
        sa.Column("customer_name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("windows", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("deliver", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("vehicle_requirement", sa.String(length=12), nullable=False),
        sa.Column("service_minutes", sa.Integer(), nullable=False),
        sa.Column("eta", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["route_id"], ["routing.routes.id"], name=op.f("fk_stops_route_id_routes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stops")),
        sa.UniqueConstraint("plan_id", "order_id", name="one_per_order_in_plan"),
        schema="routing",
    )
    op.create_index("ix_stops_order_id", "stops", ["order_id"], unique=False, schema="routing")
    op.create_index("ix_stops_route_sequence", "stops", ["route_id", "sequence"], unique=False, schema="routing")


def downgrade() -> None:
    op.drop_index("ix_stops_route_sequence", table_name="stops", schema="routing")
    op.drop_index("ix_stops_order_id", table_name="stops", schema="routing")
    op.drop_table("stops", schema="routing")
    op.drop_index("ix_shifts_date", table_name="shifts", schema="routing")
    op.drop_table("shifts", schema="routing")
    op.drop_table("vehicles", schema="routing")
    op.drop_index(op.f("ix_routing_routes_plan_id"), table_name="routes", schema="routing")
    op.drop_index("ix_routes_driver_date", table_name="routes", schema="routing")
    op.drop_table("routes", schema="routing")
    op.drop_index(
        "uq_plans_published_date",
        table_name="plans",
        schema="routing",
        postgresql_where=sa.text("status = 'published'"),
    )
    op.drop_index("ix_plans_date", table_name="plans", schema="routing")
    op.drop_table("plans", schema="routing")
    op.drop_index(
        "ix_outbox_unpublished", table_name="outbox", schema="routing", postgresql_where=sa.text("published_at IS NULL")
    )
    op.drop_table("outbox", schema="routing")
    op.drop_table("handled_events", schema="routing")
    op.drop_table("depots", schema="routing")
