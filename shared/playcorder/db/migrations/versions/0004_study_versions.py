"""study versions, enable/disable, archive; the study version each episode was played with

Revision ID: 0004
Revises: 8bd12f18751a
Create Date: 2026-12-02 04:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0004'
down_revision = '8bd12f18751a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('study_versions',
    sa.Column('study_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['accounts.id'], ),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('study_id', 'version')
    )
    # server defaults fill the studies created before this revision: each is at version 1, enabled, not archived
    op.add_column('studies', sa.Column('version', sa.Integer(), server_default='1', nullable=False))
    op.add_column('studies', sa.Column('enabled', sa.Boolean(), server_default='true', nullable=False))
    op.add_column('studies', sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('studies', sa.Column('disabled_environments', sa.JSON(), server_default='[]', nullable=False))
    op.add_column('studies', sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    op.execute('UPDATE studies SET updated_at = created_at')
    op.alter_column('studies', 'updated_at', nullable=False)
    # ... and version 1 of each is the spec it has now
    op.execute('INSERT INTO study_versions (study_id, version, spec, created_at, created_by) '
               'SELECT id, 1, spec, created_at, owner_id FROM studies')
    # episodes recorded before keep NULL: the version they were played with is unknown
    op.add_column('episodes', sa.Column('study_version', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('episodes', 'study_version')
    op.drop_column('studies', 'updated_at')
    op.drop_column('studies', 'disabled_environments')
    op.drop_column('studies', 'archived_at')
    op.drop_column('studies', 'enabled')
    op.drop_column('studies', 'version')
    op.drop_table('study_versions')
