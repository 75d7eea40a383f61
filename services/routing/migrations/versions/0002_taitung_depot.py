"""the Taitung depot, where every vehicle starts unless told otherwise (docs/domain.md#depot: near the city centre)

Revision ID: 0002
Revises: 0001
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DEPOT_ID = uuid.UUID("7a1b0000-0000-4000-8000-000000000001")


def upgrade() -> None:
    op.execute(
        sa.text(
            "INSERT INTO routing.depots (id, code, name, latitude, longitude) "
            "VALUES (:id, 'taitung', '幸福氣 台東總站 (Taitung depot)', 22.7553, 121.1504) "
            "ON CONFLICT (code) DO NOTHING"
        ).bindparams(id=DEPOT_ID)
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM routing.depots WHERE id = :id").bindparams(id=DEPOT_ID))
