"""A learner's proctoring standing across sittings: failed checks in a row, the back-off, the hold
for an officer's review and the learner's request for it (issue 11)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-17 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('proctor_standing',
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('not_before', sa.Float(), nullable=False),
    sa.Column('blocked_at', sa.DateTime(), nullable=True),
    sa.Column('review_requested_at', sa.DateTime(), nullable=True),
    sa.Column('review_message', sa.String(length=500), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['learner_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('learner_id')
    )


def downgrade() -> None:
    op.drop_table('proctor_standing')
