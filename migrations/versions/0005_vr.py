"""VR stations, scene assignments and sessions (issue 5)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 06:25:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vr_assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('scene', sa.String(length=32), nullable=False),
    sa.Column('assigned_by_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('pending', 'done', 'cancelled', name='vrassignmentstatus', native_enum=False, length=16), nullable=False),
    sa.Column('assigned_at', sa.DateTime(), nullable=False),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(), nullable=True),
    sa.Column('cancelled_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['assigned_by_id'], ['app_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['cancelled_by_id'], ['app_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['learner_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('vr_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vr_assignment_learner_id'), ['learner_id'], unique=False)
        batch_op.create_index('ix_vr_assignment_status', ['status', 'learner_id'], unique=False)

    op.create_table('vr_station',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.Column('last_contact_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['app_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['org_unit.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('vr_station', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vr_station_unit_id'), ['unit_id'], unique=False)

    op.create_table('vr_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=True),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=True),
    sa.Column('scene', sa.String(length=32), nullable=False),
    sa.Column('client_session_id', sa.String(length=32), nullable=False),
    sa.Column('checkin', sa.String(length=16), nullable=False),
    sa.Column('checkin_verified', sa.Boolean(), nullable=False),
    sa.Column('started_at', sa.Float(), nullable=False),
    sa.Column('ended_at', sa.Float(), nullable=False),
    sa.Column('stages_json', sa.Text(), nullable=False),
    sa.Column('attention_json', sa.Text(), nullable=False),
    sa.Column('reactions_json', sa.Text(), nullable=False),
    sa.Column('choices_json', sa.Text(), nullable=False),
    sa.Column('quiz_json', sa.Text(), nullable=False),
    sa.Column('quiz_questions', sa.Integer(), nullable=False),
    sa.Column('quiz_correct', sa.Integer(), nullable=False),
    sa.Column('credited_s', sa.Float(), nullable=False),
    sa.Column('credit_reason', sa.String(length=32), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['vr_assignment.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['learner_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['station_id'], ['vr_station.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_session_id')
    )
    with op.batch_alter_table('vr_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vr_session_learner_id'), ['learner_id'], unique=False)
        batch_op.create_index('ix_vr_session_learner_started', ['learner_id', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_vr_session_station_id'), ['station_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('vr_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vr_session_station_id'))
        batch_op.drop_index('ix_vr_session_learner_started')
        batch_op.drop_index(batch_op.f('ix_vr_session_learner_id'))

    op.drop_table('vr_session')
    with op.batch_alter_table('vr_station', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vr_station_unit_id'))

    op.drop_table('vr_station')
    with op.batch_alter_table('vr_assignment', schema=None) as batch_op:
        batch_op.drop_index('ix_vr_assignment_status')
        batch_op.drop_index(batch_op.f('ix_vr_assignment_learner_id'))

    op.drop_table('vr_assignment')
