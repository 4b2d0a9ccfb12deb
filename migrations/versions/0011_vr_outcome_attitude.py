"""VR sessions of payload version 2 (issue 15): how the session ended (the operator's emergency stop),
how far it got, and the attitude questionnaire asked before and after the scene with its scores

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 15:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows stored before keep NULL everywhere: version-1 posts, no outcome, no questionnaire.
    with op.batch_alter_table('vr_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('outcome', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('progress', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('attitude_json', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('attitude_before', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('attitude_after', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('vr_session', schema=None) as batch_op:
        batch_op.drop_column('attitude_after')
        batch_op.drop_column('attitude_before')
        batch_op.drop_column('attitude_json')
        batch_op.drop_column('progress')
        batch_op.drop_column('outcome')
        batch_op.drop_column('api_version')
