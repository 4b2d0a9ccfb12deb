"""A per-user session version: logout, password change and an admin's reset or deactivation end every
session of the user, copies of the cookie included (issue 12)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-24 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing accounts start at 0; sessions issued before carry no version and must log in again.
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('session_version')
