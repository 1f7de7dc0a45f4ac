"""export options and the files of directory-tree exports

Revision ID: 8bd12f18751a
Revises: 4d0604b4402c
Create Date: 2026-11-22 02:35:59.196140
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '8bd12f18751a'
down_revision = '4d0604b4402c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('exports', sa.Column('options', sa.JSON(), server_default='{}', nullable=False))
    op.add_column('exports', sa.Column('files', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('exports', 'files')
    op.drop_column('exports', 'options')
