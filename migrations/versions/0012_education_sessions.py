"""Group education sessions (issue 16): a conference held as a session of a course or a topic,
the presence of each person and their attendance checks (webapp/models/education.py)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 18:10:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('education_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conference_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=True),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('first_within_s', sa.Float(), nullable=False),
    sa.Column('min_gap_s', sa.Float(), nullable=False),
    sa.Column('max_gap_s', sa.Float(), nullable=False),
    sa.Column('max_parallel', sa.Integer(), nullable=False),
    sa.Column('session_cap_min', sa.Integer(), nullable=True),
    sa.Column('credited_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['conference_id'], ['conference.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('conference_id')
    )
    op.create_table('education_presence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('room_path', sa.String(length=400), nullable=False),
    sa.Column('shared_room', sa.Boolean(), nullable=False),
    sa.Column('joined_at', sa.Float(), nullable=False),
    sa.Column('left_at', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['education_session.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('education_presence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_education_presence_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_education_presence_user_id'), ['user_id'], unique=False)

    op.create_table('education_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('room_path', sa.String(length=400), nullable=False),
    sa.Column('confirmed_by_id', sa.Integer(), nullable=True),
    sa.Column('scores_json', sa.Text(), nullable=False),
    sa.Column('flag_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['app_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['flag_id'], ['proctor_flag.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['education_session.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('education_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_education_check_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_education_check_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('education_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_education_check_user_id'))
        batch_op.drop_index(batch_op.f('ix_education_check_session_id'))

    op.drop_table('education_check')
    with op.batch_alter_table('education_presence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_education_presence_user_id'))
        batch_op.drop_index(batch_op.f('ix_education_presence_session_id'))

    op.drop_table('education_presence')
    op.drop_table('education_session')
