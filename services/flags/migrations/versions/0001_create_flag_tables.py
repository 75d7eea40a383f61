"""create flag tables: flags, every version, the append-only audit log, outbox

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

SCHEMA = "flags"


def upgrade() -> None:
    op.create_table(
        "flags",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("definition", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint("key ~ '^[a-z0-9][a-z0-9._-]{0,99}$'", name=op.f("ck_flags_key_format")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_flags_version_positive")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_flags")),
        schema=SCHEMA,
    )
    op.create_table(
        "flag_versions",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("definition", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["key"], ["flags.flags.key"], name=op.f("fk_flag_versions_key_flags")),
        sa.PrimaryKeyConstraint("key", "version", name=op.f("pk_flag_versions")),
        schema=SCHEMA,
    )
    op.create_table(
        "audit",
        sa.Column("sequence", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("flag_key", sa.String(length=100), nullable=False),
        sa.Column("flag_version", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_role", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "action IN ('create', 'change', 'kill', 'restore', 'delete', 'import')",
            name=op.f("ck_audit_action_known"),
        ),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_audit")),
        schema=SCHEMA,
    )
    op.create_index("ix_audit_flag_key_sequence", "audit", ["flag_key", "sequence"], unique=False, schema=SCHEMA)
    # History is evidence: the database itself refuses to rewrite it, whoever connects. (TRUNCATE is a
    # statement, not a row change, and stays possible for the owner: tests reset the schema with it.)
    op.execute(
        """
        CREATE FUNCTION flags.refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'flags.% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON flags.audit"
        " FOR EACH ROW EXECUTE FUNCTION flags.refuse_history_change()"
    )
    op.execute(
        "CREATE TRIGGER flag_versions_append_only BEFORE UPDATE OR DELETE ON flags.flag_versions"
        " FOR EACH ROW EXECUTE FUNCTION flags.refuse_history_change()"
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
        schema=SCHEMA,
    )
    # The relay reads only the unpublished head in position order; published rows leave the index.
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["position"],
        unique=False,
        schema=SCHEMA,
        postgresql_where=sa.text("published_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_unpublished", table_name="outbox", schema=SCHEMA)
    op.drop_table("outbox", schema=SCHEMA)
    op.execute("DROP TRIGGER audit_append_only ON flags.audit")
    op.execute("DROP TRIGGER flag_versions_append_only ON flags.flag_versions")
    op.execute("DROP FUNCTION flags.refuse_history_change()")
    op.drop_index("ix_audit_flag_key_sequence", table_name="audit", schema=SCHEMA)
    op.drop_table("audit", schema=SCHEMA)
    op.drop_table("flag_versions", schema=SCHEMA)
    op.drop_table("flags", schema=SCHEMA)
