"""crowd campaigns: campaigns, enrollments, assignments, the deployment's secrets; episodes' campaign, condition and statistics

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 18:40:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column('episodes', sa.Column('campaign_id', _TEXT(), nullable=True))
    op.add_column('episodes', sa.Column('condition', _TEXT(), nullable=True))
    op.add_column('episodes', sa.Column('stats', sa.JSON(), server_default='{}', nullable=False))
    op.create_index(op.f('ix_episodes_campaign_id'), 'episodes', ['campaign_id'], unique=False)
    op.create_table('campaigns',
    sa.Column('id', _TEXT(), nullable=False),
    sa.Column('study_id', _TEXT(), nullable=False),
    sa.Column('name', _TEXT(), nullable=False),
    sa.Column('channel', _TEXT(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('completion_code', _TEXT(), nullable=False),
    sa.Column('closed_at', _AT, nullable=True),
    sa.Column('created_by', _TEXT(), nullable=False),
    sa.Column('created_at', _AT, nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['accounts.id']),
    sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_campaigns_study_id'), 'campaigns', ['study_id'], unique=False)
    op.create_table('enrollments',
    sa.Column('id', _TEXT(), nullable=False),
    sa.Column('campaign_id', _TEXT(), nullable=False),
    sa.Column('participant_id', _TEXT(), nullable=False),
    sa.Column('external_key', _TEXT(), nullable=False),
    sa.Column('external', sa.JSON(), nullable=False),
    sa.Column('consented_at', _AT, nullable=True),
    sa.Column('answers', sa.JSON(), nullable=True),
    sa.Column('completion_code', _TEXT(), nullable=True),
    sa.Column('completed_at', _AT, nullable=True),
    sa.Column('bonus', sa.Float(), nullable=True),
    sa.Column('created_at', _AT, nullable=False),
    sa.Column('last_seen_at', _AT, nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_enrollments_campaign_id'), 'enrollments', ['campaign_id'], unique=False)
    op.create_index(op.f('ix_enrollments_participant_id'), 'enrollments', ['participant_id'], unique=False)
    op.create_index('ux_enrollments_campaign_key', 'enrollments', ['campaign_id', 'external_key'], unique=True)
    op.create_table('assignments',
    sa.Column('id', _TEXT(), nullable=False),
    sa.Column('campaign_id', _TEXT(), nullable=False),
    sa.Column('enrollment_id', _TEXT(), nullable=False),
    sa.Column('participant_id', _TEXT(), nullable=False),
    sa.Column('condition', _TEXT(), nullable=False),
    sa.Column('state', _TEXT(), nullable=False),
    sa.Column('reserved_until', _AT, nullable=False),
    sa.Column('stats', sa.JSON(), server_default='{}', nullable=False),
    sa.Column('created_at', _AT, nullable=False),
    sa.Column('completed_at', _AT, nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollments.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_assignments_enrollment_id'), 'assignments', ['enrollment_id'], unique=False)
    op.create_index(op.f('ix_assignments_participant_id'), 'assignments', ['participant_id'], unique=False)
    op.create_index('ix_assignments_campaign_condition', 'assignments', ['campaign_id', 'condition', 'state'],
                    unique=False)
    op.create_table('deployment_secrets',
    sa.Column('name', _TEXT(), nullable=False),
    sa.Column('value', _TEXT(), nullable=False),
    sa.Column('created_at', _AT, nullable=False),
    sa.PrimaryKeyConstraint('name'))


def downgrade() -> None:
    op.drop_table('deployment_secrets')
    op.drop_table('assignments')
    op.drop_table('enrollments')
    op.drop_table('campaigns')
    op.drop_index(op.f('ix_episodes_campaign_id'), table_name='episodes')
    op.drop_column('episodes', 'stats')
    op.drop_column('episodes', 'condition')
    op.drop_column('episodes', 'campaign_id')
