"""legacy digests: each linked order's reconcile digest stored, kept current through a change list

A reconcile checksums key ranges of a million orders. Computing each order's canonical text for every checksum
costs seconds a million; the digests are stored instead (legacy_digests) and brought up to date only for the
orders written since (legacy_digest_changes), when a checksum is asked for. Statement-level triggers on orders,
order_items and deliveries append the touched orders that have (or had) a legacy id to the change list: one
INSERT … SELECT from the statement's transition table, whatever the number of rows. The digest itself is
computed by the order service (services/order/legacy_repository.py), never here, so a change of the canonical
form needs no migration: legacy_digest_state records which form the stored digests follow.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "order"

# (table, trigger event, transition tables, the changed orders' (order id, legacy id) from those tables)
_TRIGGERS = (
    (
        "orders",
        "INSERT",
        "NEW TABLE AS new_rows",
        "SELECT id, legacy_id FROM new_rows WHERE legacy_id IS NOT NULL",
    ),
    (
        "orders",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "SELECT id, legacy_id FROM new_rows WHERE legacy_id IS NOT NULL"
        " UNION ALL SELECT id, legacy_id FROM old_rows WHERE legacy_id IS NOT NULL",
    ),
    (
        "orders",
        "DELETE",
        "OLD TABLE AS old_rows",
        "SELECT id, legacy_id FROM old_rows WHERE legacy_id IS NOT NULL",
    ),
)
_LINE_TABLES = ("order_items", "deliveries")
_LINE_EVENTS = (
    ("INSERT", "NEW TABLE AS new_rows", "new_rows"),
    ("UPDATE", "NEW TABLE AS new_rows", "new_rows"),
    ("DELETE", "OLD TABLE AS old_rows", "old_rows"),
)


def _line_changes(rows: str) -> str:
    # A line's order keeps its legacy id; lines of orders without one (the platform's own) are not listed.
    return (
        # nosemgrep: sql-built-from-strings -- a transition table's name and the schema, this migration's constants
        f'SELECT DISTINCT o.id, o.legacy_id FROM {rows} AS r JOIN "{SCHEMA}".orders AS o ON o.id = r.order_id'  # nosec B608
        " WHERE o.legacy_id IS NOT NULL"
    )


def _all_triggers() -> list[tuple[str, str, str, str]]:
    lines = [
        (table, event, transition, _line_changes(rows))
        for table in _LINE_TABLES
        for event, transition, rows in _LINE_EVENTS
    ]
    return [*_TRIGGERS, *lines]


def _function_name(table: str, event: str) -> str:
    return f'"{SCHEMA}".legacy_digest_{table}_{event.lower()}'


def upgrade() -> None:
    op.create_table(
        "legacy_digests",
        sa.Column("legacy_id", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("legacy_id", name=op.f("pk_legacy_digests")),
        schema=SCHEMA,
    )
    op.create_table(
        "legacy_digest_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("legacy_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legacy_digest_changes")),
        schema=SCHEMA,
    )
    op.create_table(
        "legacy_digest_state",
        sa.Column("definition", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("definition", name=op.f("pk_legacy_digest_state")),
        schema=SCHEMA,
    )
    for table, event, transition, changes in _all_triggers():
        function = _function_name(table, event)
        op.execute(
            # nosemgrep: sql-built-from-strings -- DDL from this migration's constants, no value from outside
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f' INSERT INTO "{SCHEMA}".legacy_digest_changes (order_id, legacy_id) {changes};'
            " RETURN NULL; END $$"
        )
        op.execute(
            # nosemgrep: sql-built-from-strings -- DDL from this migration's constants, no value from outside
            f'CREATE TRIGGER legacy_digest_{event.lower()} AFTER {event} ON "{SCHEMA}".{table}'
            f" REFERENCING {transition} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    # Orders imported before this migration: listed, so the first checksum computes their digests.
    op.execute(
        'INSERT INTO "order".legacy_digest_changes (order_id, legacy_id)'
        ' SELECT id, legacy_id FROM "order".orders WHERE legacy_id IS NOT NULL'
    )


def downgrade() -> None:
    for table, event, _, _ in _all_triggers():
        # nosemgrep: sql-built-from-strings -- DDL from this migration's constants, no value from outside
        op.execute(f'DROP TRIGGER legacy_digest_{event.lower()} ON "{SCHEMA}".{table}')
        # nosemgrep: sql-built-from-strings -- DDL from this migration's constants, no value from outside
        op.execute(f"DROP FUNCTION {_function_name(table, event)}()")
    op.drop_table("legacy_digest_state", schema=SCHEMA)
    op.drop_table("legacy_digest_changes", schema=SCHEMA)
    op.drop_table("legacy_digests", schema=SCHEMA)
