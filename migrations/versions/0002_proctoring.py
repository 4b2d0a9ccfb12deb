"""proctoring: enrolments, checks, flags, evidence

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 02:37:04.579482
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('face_enrolment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('embedding_enc', sa.LargeBinary(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('quality_json', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('face_enrolment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_face_enrolment_user_id'), ['user_id'], unique=False)

    op.create_table('proctor_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('triggered_at', sa.Float(), nullable=False),
    sa.Column('verdict_at', sa.Float(), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('scores_json', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['study_session.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('proctor_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_proctor_check_session_id'), ['session_id'], unique=False)

    op.create_table('proctor_flag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=True),
    sa.Column('check_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('raised_at', sa.Float(), nullable=False),
    sa.Column('scores_json', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('open', 'confirmed', 'dismissed', name='flagstatus', native_enum=False, length=16), nullable=False),
    sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(), nullable=True),
    sa.Column('review_reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['check_id'], ['proctor_check.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['learner_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['app_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['study_session.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('proctor_flag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_proctor_flag_learner_id'), ['learner_id'], unique=False)
        batch_op.create_index('ix_proctor_flag_status', ['status', 'raised_at'], unique=False)

    op.create_table('evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('flag_id', sa.Integer(), nullable=False),
    sa.Column('image_enc', sa.LargeBinary(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['flag_id'], ['proctor_flag.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_flag_id'), ['flag_id'], unique=False)

    with op.batch_alter_table('study_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prompt_question_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('camera_consent_at', sa.Float(), nullable=True))



def downgrade() -> None:
    # Not recreated (SQLite >= 3.35 drops a column in place): with PRAGMA foreign_keys=ON, as
    # webapp's engine connects, batch mode's copy-and-drop of study_session deleted through
    # ON DELETE CASCADE every attestation, pending, dropped segment and heartbeat rejection row.
    with op.batch_alter_table('study_session', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('camera_consent_at')
        batch_op.drop_column('prompt_question_id')

    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_flag_id'))
        batch_op.drop_index(batch_op.f('ix_evidence_expires_at'))

    op.drop_table('evidence')
    with op.batch_alter_table('proctor_flag', schema=None) as batch_op:
        batch_op.drop_index('ix_proctor_flag_status')
        batch_op.drop_index(batch_op.f('ix_proctor_flag_learner_id'))

    op.drop_table('proctor_flag')
    with op.batch_alter_table('proctor_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_proctor_check_session_id'))

    op.drop_table('proctor_check')
    with op.batch_alter_table('face_enrolment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_face_enrolment_user_id'))

    op.drop_table('face_enrolment')
