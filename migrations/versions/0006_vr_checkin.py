"""VR check-ins as records (a face session is verified by one, not by audit text)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 13:50:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vr_checkin',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=True),
    sa.Column('distance', sa.Float(), nullable=True),
    sa.Column('at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['vr_assignment.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['learner_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['station_id'], ['vr_station.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('vr_checkin', schema=None) as batch_op:
        batch_op.create_index('ix_vr_checkin_learner_at', ['learner_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('vr_checkin', schema=None) as batch_op:
        batch_op.drop_index('ix_vr_checkin_learner_at')
    op.drop_table('vr_checkin')
