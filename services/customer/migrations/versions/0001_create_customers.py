"""create customers

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
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=7), nullable=False),
        sa.Column("short_name", sa.String(length=100), nullable=False),
        sa.Column("invoice_title", sa.String(length=200), nullable=False),
        sa.Column("tax_id", sa.String(length=8), nullable=False),
        sa.Column("phones", sa.ARRAY(sa.String(length=20)), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("postal_code", sa.String(length=6), nullable=False),
        sa.Column("zone", sa.String(length=2), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("segment", sa.String(length=20), nullable=False),
        sa.Column("hourly_windows", sa.ARRAY(sa.Boolean()), nullable=False),
        sa.Column("slot_code", sa.Integer(), nullable=True),
        sa.Column("rest_days", sa.String(length=50), nullable=False),
        sa.Column("vehicle_requirement", sa.String(length=12), nullable=False),
        sa.Column("cylinders", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("spare_cylinders", sa.Integer(), nullable=False),
        sa.Column("manifolded_cylinders", sa.Integer(), nullable=False),
        sa.Column("consumption_kg_per_day", sa.Float(), nullable=False),
        sa.Column("max_cycle_days", sa.Integer(), nullable=False),
        sa.Column("slip_days", sa.Integer(), nullable=False),
        sa.Column("pricing_method", sa.String(length=10), nullable=False),
        sa.Column("payment_terms", sa.String(length=10), nullable=False),
        sa.Column("subscription", sa.Boolean(), nullable=False),
        sa.Column("alert_device", sa.Boolean(), nullable=False),
        sa.Column("credit_limit", sa.BigInteger(), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("terminated", sa.Boolean(), nullable=False),
        sa.Column("termination_reason", sa.String(length=300), nullable=False),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("create_request_id", sa.String(length=100), nullable=True),
        sa.Column("create_fingerprint", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("code ~ '^[0-9]{7}$'", name=op.f("ck_customers_code_seven_digits")),
        sa.CheckConstraint("cardinality(hourly_windows) = 12", name=op.f("ck_customers_twelve_windows")),
        sa.CheckConstraint(
            "slot_code IS NULL OR slot_code BETWEEN 0 AND 3",
            name=op.f("ck_customers_slot_code_range"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_customers_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("code", name=op.f("uq_customers_code")),
        sa.UniqueConstraint("create_request_id", name=op.f("uq_customers_create_request_id")),
        schema="customer",
    )
    op.create_index(
        "ix_customers_segment_code",
        "customers",
        ["segment", "code"],
        unique=False,
        schema="customer",
    )
    op.create_index(
        "ix_customers_zone_code",
        "customers",
        ["zone", "code"],
        unique=False,
        schema="customer",
    )
    # Trigram index for free-text search where the server ships pg_trgm (managed Postgres does; the
    # embedded build does not, and a sequential scan of the customer table is fast at this size).
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
                CREATE EXTENSION IF NOT EXISTS pg_trgm;
                CREATE INDEX ix_customers_search_text ON customer.customers USING gin (search_text gin_trgm_ops);
            END IF;
        END $$;
        """
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS customer.ix_customers_search_text")
    op.drop_index("ix_customers_zone_code", table_name="customers", schema="customer")
    op.drop_index("ix_customers_segment_code", table_name="customers", schema="customer")
    op.drop_table("customers", schema="customer")
