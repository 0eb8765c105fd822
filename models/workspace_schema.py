"""The workspace tables as the store queries them (DESIGN.md, Workspace).

This is the *current* shape. The database gets it only through the Alembic migrations in
``models/migrations/versions``; a test checks that migrating to head yields exactly these
tables, so a change here without a new migration fails the suite.

Conventions: times are integer microseconds UTC (like :class:`models.event.Event`); JSON is
stored as text written by orjson; ``generation`` lets a changed log be re-imported beside the
old data and swapped in by one small transaction (rows of other generations are garbage).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Named constraints, so later SQLite batch migrations can refer to them."""

metadata = MetaData(naming_convention=NAMING_CONVENTION)

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("path", Text, nullable=False),
    Column("format", Text, nullable=False),
    Column("compressed", Boolean, nullable=False),
    Column("mapping", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("sha1", Text, nullable=False),
    Column("end_offset", BigInteger, nullable=False),
    Column("end_line", BigInteger, nullable=False),
    Column("records_read", BigInteger, nullable=False),
    Column("imported", BigInteger, nullable=False),
    Column("skipped", BigInteger, nullable=False),
    Column("event_count", BigInteger, nullable=False),
    Column("problem_count", BigInteger, nullable=False),
    Column("imported_at", BigInteger, nullable=True),
    Column("status", Text, nullable=False),
    Column("generation", Integer, nullable=False),
    UniqueConstraint("path"),
)

chunks = Table(
    "chunks",
    metadata,
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("chunk_no", Integer, nullable=False),
    Column("first_pos", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("codec", Text, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("source_id", "generation", "chunk_no"),
)

columns = Table(
    "columns",
    metadata,
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("dtype", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("source_id", "generation", "name"),
)

problems = Table(
    "problems",
    metadata,
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("severity", Text, nullable=False),
    Column("file", Text, nullable=False),
    Column("line", BigInteger, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("excerpt", Text, nullable=False),
    PrimaryKeyConstraint("source_id", "generation", "seq"),
)

branches = Table(
    "branches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("parent_id", Integer, ForeignKey("branches.id"), nullable=True),
    Column("fork_at", BigInteger, nullable=True),
    Column("parent_edit_count", Integer, nullable=False),
    Column("note", Text, nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("source_id", "name"),
)

edits = Table(
    "edits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("branch_id", Integer, ForeignKey("branches.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("target", BigInteger, nullable=True),
    Column("after", BigInteger, nullable=True),
    Column("changes", Text, nullable=True),
    Column("event", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("branch_id", "seq"),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("branch_id", Integer, ForeignKey("branches.id", ondelete="CASCADE"), nullable=True),
    Column("projection", Text, nullable=False),
    Column("row", BigInteger, nullable=False),
    Column("edit_seq", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("codec", Text, nullable=False),
    Column("data", LargeBinary, nullable=False),
)
Index(
    "ix_chunks_span",
    chunks.c.source_id,
    chunks.c.generation,
    chunks.c.chunk_no,
    chunks.c.first_pos,
    chunks.c.count,
)
"""Covers the chunk index query: it never touches the pages holding the payloads."""
Index(None, snapshots.c.source_id, snapshots.c.branch_id, snapshots.c.projection, snapshots.c.row)
Index(None, branches.c.parent_id)
Index(None, snapshots.c.branch_id)
