"""multi-agent games: the lobby's seats

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 14:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('games',
    sa.Column('id', _TEXT(), nullable=False),
    sa.Column('study_id', _TEXT(), nullable=False),
    sa.Column('env', _TEXT(), nullable=False),
    sa.Column('worker_id', _TEXT(), nullable=False),
    sa.Column('seats', sa.JSON(), nullable=False),
    sa.Column('created_at', _AT, nullable=False),
    sa.Column('fill_at', _AT, nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_games_lobby', 'games', ['study_id', 'env', 'fill_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_games_lobby', table_name='games')
    op.drop_table('games')
