"""preference feedback: experiments, segments (with their clips), pairs (with their leases), labels

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:40:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('preference_experiments',
    sa.Column('id', _TEXT(), nullable=False),
    sa.Column('study_id', _TEXT(), nullable=False),
    sa.Column('name', _TEXT(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('env', _TEXT(), nullable=True),
    sa.Column('fps', sa.Integer(), nullable=False),
    sa.Column('labels_count', sa.Integer(), nullable=False),
    sa.Column('created_by', _TEXT(), nullable=False),
    sa.Column('created_at', _AT, nullable=False),
    sa.Column('closed_at', _AT, nullable=True),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['accounts.id']),
    sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_preference_experiments_study_id'), 'preference_experiments', ['study_id'], unique=False)
    op.create_table('preference_segments',
    sa.Column('id', _TEXT(), nullable=False),
    sa.Column('experiment_id', _TEXT(), nullable=False),
    sa.Column('source', _TEXT(), nullable=False),
    sa.Column('episode_id', _TEXT(), nullable=True),
    sa.Column('first_step', sa.Integer(), nullable=False),
    sa.Column('num_steps', sa.Integer(), nullable=False),
    sa.Column('data_key', _TEXT(), nullable=True),
    sa.Column('reward_sum', sa.Float(), nullable=True),
    sa.Column('state', _TEXT(), nullable=False),
    sa.Column('error', _TEXT(), nullable=True),
    sa.Column('clip_keys', sa.JSON(), server_default='{}', nullable=False),
    sa.Column('clip_frames', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('created_at', _AT, nullable=False),
    sa.Column('rendered_at', _AT, nullable=True),
    sa.ForeignKeyConstraint(['experiment_id'], ['preference_experiments.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_preference_segments_experiment_id'), 'preference_segments', ['experiment_id'],
                    unique=False)
    op.create_table('preference_pairs',
    sa.Column('id', _TEXT(), nullable=False),
    sa.Column('experiment_id', _TEXT(), nullable=False),
    sa.Column('left_id', _TEXT(), nullable=False),
    sa.Column('right_id', _TEXT(), nullable=False),
    sa.Column('priority', sa.Float(), nullable=False),
    sa.Column('labels_wanted', sa.Integer(), nullable=False),
    sa.Column('labels', sa.Integer(), nullable=False),
    sa.Column('leased_by', _TEXT(), nullable=True),
    sa.Column('leased_at', _AT, nullable=True),
    sa.Column('lease_until', _AT, nullable=True),
    sa.Column('created_at', _AT, nullable=False),
    sa.ForeignKeyConstraint(['experiment_id'], ['preference_experiments.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['left_id'], ['preference_segments.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['right_id'], ['preference_segments.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_preference_pairs_queue', 'preference_pairs', ['experiment_id', 'priority', 'created_at'],
                    unique=False)
    op.create_table('preference_labels',
    sa.Column('id', _TEXT(), nullable=False),
    sa.Column('experiment_id', _TEXT(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('pair_id', _TEXT(), nullable=False),
    sa.Column('labeller', _TEXT(), nullable=False),
    sa.Column('response', _TEXT(), nullable=False),
    sa.Column('shown_at', _AT, nullable=False),
    sa.Column('answered_at', _AT, nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['experiment_id'], ['preference_experiments.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pair_id'], ['preference_pairs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'))
    op.create_index('ux_preference_labels_pair_labeller', 'preference_labels', ['pair_id', 'labeller'], unique=True)
    op.create_index('ux_preference_labels_experiment_seq', 'preference_labels', ['experiment_id', 'seq'],
                    unique=True)


def downgrade() -> None:
    op.drop_table('preference_labels')
    op.drop_table('preference_pairs')
    op.drop_table('preference_segments')
    op.drop_table('preference_experiments')
