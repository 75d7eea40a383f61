"""create migration-sync tables: customer and delivery links, backfill checkpoints, rejections, sync marks,
conflicts, cutovers, reconcile reports, outbox, handled events

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
        "backfill_tables",
        sa.Column("table_name", sa.String(length=20), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("until_key", sa.Text(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("done", sa.BigInteger(), nullable=False),
        sa.Column("migrated", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "done = migrated + rejected", name=op.f("ck_backfill_tables_done_is_migrated_plus_rejected")
        ),
        sa.PrimaryKeyConstraint("table_name", "dry_run", name=op.f("pk_backfill_tables")),
        schema="migration",
    )
    op.create_table(
        "conflicts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("table_name", sa.String(length=20), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("customer_code", sa.String(length=7), nullable=False),
        sa.Column("primary_side", sa.String(length=6), nullable=False),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("other_text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("resolution", sa.String(length=20), nullable=False),
        sa.Column("values", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint("state IN ('open', 'resolved')", name=op.f("ck_conflicts_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conflicts")),
        schema="migration",
    )
    op.create_index(
        "ux_conflicts_open_row",
        "conflicts",
        ["table_name", "key"],
        unique=True,
        schema="migration",
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_table(
        "customers",
        sa.Column("code", sa.String(length=7), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("primary_side", sa.String(length=6), server_default=sa.text("'legacy'"), nullable=False),
        sa.Column("legacy_version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("primary_side IN ('legacy', 'new')", name=op.f("ck_customers_primary_side")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_customers")),
        schema="migration",
    )
    op.create_table(
        "cutovers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_code", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sync_seconds", sa.Float(), nullable=False),
        sa.Column("verify_seconds", sa.Float(), nullable=False),
        sa.Column("total_seconds", sa.Float(), nullable=False),
        sa.Column("rows_synced", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('cutover', 'rollback')", name=op.f("ck_cutovers_kind")),
        sa.CheckConstraint("outcome IN ('running', 'done', 'failed')", name=op.f("ck_cutovers_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cutovers")),
        schema="migration",
    )
    op.create_index("ix_cutovers_customer_code", "cutovers", ["customer_code"], unique=False, schema="migration")
    op.create_table(
        "deliveries",
        sa.Column("legacy_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("customer_code", sa.String(length=7), nullable=False),
        sa.Column("origin", sa.String(length=6), nullable=False),
        sa.Column("legacy_version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("origin IN ('legacy', 'new')", name=op.f("ck_deliveries_origin")),
        sa.PrimaryKeyConstraint("legacy_id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("order_id", name=op.f("uq_deliveries_order_id")),
        schema="migration",
    )
    op.create_index("ix_deliveries_customer_code", "deliveries", ["customer_code"], unique=False, schema="migration")
    op.create_table(
        "handled_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("consumer_group", sa.String(length=100), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "consumer_group", name=op.f("pk_handled_events")),
        schema="migration",
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
        schema="migration",
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["position"],
        unique=False,
        schema="migration",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "reconcile_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("table_name", sa.String(length=20), nullable=False),
        sa.Column("trigger", sa.String(length=10), nullable=False),
        sa.Column("repair", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("legacy_rows", sa.BigInteger(), nullable=False),
        sa.Column("new_rows", sa.BigInteger(), nullable=False),
        sa.Column("differences", sa.BigInteger(), nullable=False),
        sa.Column("rows", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("checksum_calls", sa.Integer(), nullable=False),
        sa.Column("rows_fetched", sa.BigInteger(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("rejected_rows", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_reports")),
        schema="migration",
    )
    op.create_table(
        "rejections",
        sa.Column("table_name", sa.String(length=20), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("problems", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("table_name", "dry_run", "key", name=op.f("pk_rejections")),
        schema="migration",
    )
    op.create_table(
        "sync_marks",
        sa.Column("table_name", sa.String(length=20), nullable=False),
        sa.Column("row_version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("table_name", name=op.f("pk_sync_marks")),
        schema="migration",
    )


def downgrade() -> None:

    op.drop_table("sync_marks", schema="migration")
    op.drop_table("rejections", schema="migration")
    op.drop_table("reconcile_reports", schema="migration")
    op.drop_index(
        "ix_outbox_unpublished",
        table_name="outbox",
        schema="migration",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox", schema="migration")
    op.drop_table("handled_events", schema="migration")
    op.drop_index("ix_deliveries_customer_code", table_name="deliveries", schema="migration")
    op.drop_table("deliveries", schema="migration")
    op.drop_index("ix_cutovers_customer_code", table_name="cutovers", schema="migration")
    op.drop_table("cutovers", schema="migration")
    op.drop_table("customers", schema="migration")
    op.drop_index(
        "ux_conflicts_open_row", table_name="conflicts", schema="migration", postgresql_where=sa.text("state = 'open'")
    )
    op.drop_table("conflicts", schema="migration")
    op.drop_table("backfill_tables", schema="migration")
