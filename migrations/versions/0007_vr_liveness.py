"""VR check-ins with liveness and officers' on-site confirmations; liveness challenges; the check-in
that verified a session (issue 11)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vr_challenge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('actions', sa.String(length=64), nullable=False),
    sa.Column('shown_at', sa.String(length=128), nullable=False),
    sa.Column('window_s', sa.Float(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('issued_at', sa.Float(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.Column('used_at', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['station_id'], ['vr_station.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('nonce')
    )
    with op.batch_alter_table('vr_challenge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vr_challenge_station_id'), ['station_id'], unique=False)

    # Existing face check-ins keep liveness NULL: they had no challenge and verify nothing.
    with op.batch_alter_table('vr_checkin', schema=None) as batch_op:
        batch_op.add_column(sa.Column('liveness', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('officer_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_vr_checkin_officer_id', 'app_user', ['officer_id'], ['id'],
                                    ondelete='SET NULL')

    with op.batch_alter_table('vr_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verified_checkin_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_vr_session_verified_checkin_id', 'vr_checkin', ['verified_checkin_id'],
                                    ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('vr_session', schema=None) as batch_op:
        batch_op.drop_constraint('fk_vr_session_verified_checkin_id', type_='foreignkey')
        batch_op.drop_column('verified_checkin_id')

    with op.batch_alter_table('vr_checkin', schema=None) as batch_op:
        batch_op.drop_constraint('fk_vr_checkin_officer_id', type_='foreignkey')
        batch_op.drop_column('officer_id')
        batch_op.drop_column('liveness')

    with op.batch_alter_table('vr_challenge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vr_challenge_station_id'))

    op.drop_table('vr_challenge')
