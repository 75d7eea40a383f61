"""users can be disabled by an admin

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True), schema="gateway")


def downgrade() -> None:
    op.drop_column("users", "disabled_at", schema="gateway")
