"""The officers' workspace (issue 14): learner_month (a supervisee's month, the rollup the unit pages
group), unit transfers, study reminders; the national ID number and phone, encrypted; supervision
end and anonymisation times; the unit of an audit row

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 04:01:57.618018
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('learner_month',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('l1', sa.Integer(), nullable=True),
    sa.Column('l2', sa.Integer(), nullable=True),
    sa.Column('l3', sa.Integer(), nullable=True),
    sa.Column('l4', sa.Integer(), nullable=True),
    sa.Column('l5', sa.Integer(), nullable=True),
    sa.Column('required_s', sa.Float(), nullable=False),
    sa.Column('credited_s', sa.Float(), nullable=False),
    sa.Column('met', sa.Boolean(), nullable=False),
    sa.Column('flags_raised', sa.Integer(), nullable=False),
    sa.Column('flags_open', sa.Integer(), nullable=False),
    sa.Column('rollcalls', sa.Integer(), nullable=False),
    sa.Column('rollcall_absences', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['learner_id'], ['app_user.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['unit_id'], ['org_unit.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('month', 'learner_id', name='uq_learner_month')
    )
    with op.batch_alter_table('learner_month', schema=None) as batch_op:
        batch_op.create_index('ix_learner_month_l1', ['month', 'l1', 'l2'], unique=False)
        batch_op.create_index('ix_learner_month_l2', ['month', 'l2', 'l3'], unique=False)
        batch_op.create_index('ix_learner_month_l3', ['month', 'l3', 'l4'], unique=False)
        batch_op.create_index('ix_learner_month_l4', ['month', 'l4', 'l5'], unique=False)
        batch_op.create_index('ix_learner_month_l5', ['month', 'l5', 'unit_id'], unique=False)

    op.create_table('study_reminder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('detail', sa.String(length=200), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['learner_id'], ['app_user.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('study_reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_study_reminder_learner_id'), ['learner_id'], unique=False)
        batch_op.create_index('ix_study_reminder_month', ['month', 'learner_id'], unique=False)

    op.create_table('unit_transfer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('from_unit_id', sa.Integer(), nullable=False),
    sa.Column('to_unit_id', sa.Integer(), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['by_id'], ['app_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['from_unit_id'], ['org_unit.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['to_unit_id'], ['org_unit.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('unit_transfer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_transfer_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('national_id_enc', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('national_id_hmac', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('phone_enc', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('supervision_ended_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('anonymised_at', sa.DateTime(), nullable=True))
        batch_op.create_index('uq_app_user_national_id_hmac', ['national_id_hmac'], unique=True)

    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_audit_log_at', ['at'], unique=False)
        batch_op.create_index('ix_audit_log_unit_at', ['unit_id', 'at'], unique=False)
        batch_op.create_foreign_key('fk_audit_log_unit_id', 'org_unit', ['unit_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_constraint('fk_audit_log_unit_id', type_='foreignkey')
        batch_op.drop_index('ix_audit_log_unit_at')
        batch_op.drop_index('ix_audit_log_at')
        batch_op.drop_column('unit_id')

    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_index('uq_app_user_national_id_hmac')
        batch_op.drop_column('anonymised_at')
        batch_op.drop_column('supervision_ended_at')
        batch_op.drop_column('phone_enc')
        batch_op.drop_column('national_id_hmac')
        batch_op.drop_column('national_id_enc')

    with op.batch_alter_table('unit_transfer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_transfer_user_id'))

    op.drop_table('unit_transfer')
    with op.batch_alter_table('study_reminder', schema=None) as batch_op:
        batch_op.drop_index('ix_study_reminder_month')
        batch_op.drop_index(batch_op.f('ix_study_reminder_learner_id'))

    op.drop_table('study_reminder')
    with op.batch_alter_table('learner_month', schema=None) as batch_op:
        batch_op.drop_index('ix_learner_month_l5')
        batch_op.drop_index('ix_learner_month_l4')
        batch_op.drop_index('ix_learner_month_l3')
        batch_op.drop_index('ix_learner_month_l2')
        batch_op.drop_index('ix_learner_month_l1')

    op.drop_table('learner_month')
