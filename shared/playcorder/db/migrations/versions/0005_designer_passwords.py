"""designer passwords, browser sessions and failed sign-ins

Revision ID: 0005
Revises: 8bd12f18751a
Create Date: 2026-12-02 04:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('accounts', sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_table('browser_sessions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_browser_sessions_token_hash'), 'browser_sessions', ['token_hash'], unique=True)
    op.create_index(op.f('ix_browser_sessions_account_id'), 'browser_sessions', ['account_id'], unique=False)
    op.create_table('signin_failures',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_signin_failures_at'), 'signin_failures', ['at'], unique=False)
    op.create_index('ix_signin_failures_name_at', 'signin_failures', ['name', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_signin_failures_name_at', table_name='signin_failures')
    op.drop_index(op.f('ix_signin_failures_at'), table_name='signin_failures')
    op.drop_table('signin_failures')
    op.drop_index(op.f('ix_browser_sessions_account_id'), table_name='browser_sessions')
    op.drop_index(op.f('ix_browser_sessions_token_hash'), table_name='browser_sessions')
    op.drop_table('browser_sessions')
    op.drop_column('accounts', 'password_hash')
