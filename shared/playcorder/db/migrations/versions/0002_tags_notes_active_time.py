"""episode tags, step tags, notes, active time, tombstones of deleted episodes

Revision ID: 4d0604b4402c
Revises: 1290f5436212
Create Date: 2026-11-22 01:10:18.606052
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '4d0604b4402c'
down_revision = '1290f5436212'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('episode_tags',
    sa.Column('episode_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('episode_id', 'label')
    )
    op.create_index(op.f('ix_episode_tags_label'), 'episode_tags', ['label'], unique=False)
    op.create_table('step_tags',
    sa.Column('episode_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('episode_id', 'step', 'label')
    )
    op.create_table('deleted_episodes',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # server defaults fill the rows recorded before this revision
    op.add_column('episodes', sa.Column('active_s', sa.Float(), nullable=False, server_default='0'))
    op.add_column('episodes', sa.Column('notes', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=''))
    op.alter_column('episodes', 'active_s', server_default=None)
    op.alter_column('episodes', 'notes', server_default=None)


def downgrade() -> None:
    op.drop_column('episodes', 'notes')
    op.drop_column('episodes', 'active_s')
    op.drop_table('deleted_episodes')
    op.drop_table('step_tags')
    op.drop_index(op.f('ix_episode_tags_label'), table_name='episode_tags')
    op.drop_table('episode_tags')
