"""multi-agent play: an episode's game (indexed) and the agent of that game it records

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 13:45:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.add_column('episodes', sa.Column('game_id', _TEXT(), nullable=True))
    op.add_column('episodes', sa.Column('agent', _TEXT(), nullable=True))
    op.create_index(op.f('ix_episodes_game_id'), 'episodes', ['game_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_episodes_game_id'), table_name='episodes')
    op.drop_column('episodes', 'agent')
    op.drop_column('episodes', 'game_id')
