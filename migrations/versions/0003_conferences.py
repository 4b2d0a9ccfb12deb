"""conferences and roll calls

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 04:06:39.646446
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('conference',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('host_unit_id', sa.Integer(), nullable=False),
    sa.Column('host_officer_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('duration_min', sa.Integer(), nullable=False),
    sa.Column('levels', sa.String(length=20), nullable=False),
    sa.Column('include_supervisees', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Enum('scheduled', 'live', 'ended', 'cancelled', name='conferencestatus', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('duration_min > 0', name='ck_conference_duration'),
    sa.ForeignKeyConstraint(['host_officer_id'], ['app_user.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['host_unit_id'], ['org_unit.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('conference', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conference_host_officer_id'), ['host_officer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_conference_host_unit_id'), ['host_unit_id'], unique=False)
        batch_op.create_index('ix_conference_status_starts', ['status', 'starts_at'], unique=False)

    op.create_table('conference_participant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conference_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('host', 'speaker', 'participant', name='participantrole', native_enum=False, length=16), nullable=False),
    sa.Column('joined_at', sa.DateTime(), nullable=True),
    sa.Column('left_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['conference_id'], ['conference.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('conference_id', 'user_id', name='uq_conference_participant')
    )
    with op.batch_alter_table('conference_participant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conference_participant_user_id'), ['user_id'], unique=False)

    op.create_table('roll_call',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conference_id', sa.Integer(), nullable=False),
    sa.Column('started_by_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['conference_id'], ['conference.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['started_by_id'], ['app_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('roll_call', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roll_call_conference_id'), ['conference_id'], unique=False)

    op.create_table('attendance_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('roll_call_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.Enum('present_verified', 'present_unverified', 'absent', 'left_early', name='attendanceoutcome', native_enum=False, length=24), nullable=False),
    sa.Column('scores_json', sa.Text(), nullable=False),
    sa.Column('flag_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('overridden_outcome', sa.Enum('present_verified', 'present_unverified', 'absent', 'left_early', name='attendanceoutcome', native_enum=False, length=24), nullable=True),
    sa.Column('override_reason', sa.Text(), nullable=True),
    sa.Column('overridden_by_id', sa.Integer(), nullable=True),
    sa.Column('overridden_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('overridden_outcome IS NULL OR (override_reason IS NOT NULL AND length(trim(override_reason)) > 0)', name='ck_attendance_override_reason'),
    sa.ForeignKeyConstraint(['flag_id'], ['proctor_flag.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['overridden_by_id'], ['app_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['roll_call_id'], ['roll_call.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('roll_call_id', 'user_id', name='uq_attendance_record')
    )
    with op.batch_alter_table('attendance_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attendance_record_flag_id'), ['flag_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attendance_record_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('attendance_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attendance_record_user_id'))
        batch_op.drop_index(batch_op.f('ix_attendance_record_flag_id'))

    op.drop_table('attendance_record')
    with op.batch_alter_table('roll_call', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_roll_call_conference_id'))

    op.drop_table('roll_call')
    with op.batch_alter_table('conference_participant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conference_participant_user_id'))

    op.drop_table('conference_participant')
    with op.batch_alter_table('conference', schema=None) as batch_op:
        batch_op.drop_index('ix_conference_status_starts')
        batch_op.drop_index(batch_op.f('ix_conference_host_unit_id'))
        batch_op.drop_index(batch_op.f('ix_conference_host_officer_id'))

    op.drop_table('conference')
