"""sharded exports: export_shards, and the exports' shard counts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 07:40:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('exports', sa.Column('shards_total', sa.Integer(), server_default='0', nullable=False))
    op.add_column('exports', sa.Column('shards_done', sa.Integer(), server_default='0', nullable=False))
    op.create_table('export_shards',
    sa.Column('export_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('split', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('file_index', sa.Integer(), nullable=False),
    sa.Column('file_count', sa.Integer(), nullable=False),
    sa.Column('episodes', sa.JSON(), nullable=False),
    sa.Column('step_tags', sa.JSON(), nullable=False),
    sa.Column('steps_total', sa.Integer(), nullable=False),
    sa.Column('steps_done', sa.Integer(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['export_id'], ['exports.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('export_id', 'shard')
    )


def downgrade() -> None:
    op.drop_table('export_shards')
    op.drop_column('exports', 'shards_done')
    op.drop_column('exports', 'shards_total')
