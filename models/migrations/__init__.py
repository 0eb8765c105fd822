"""Alembic migrations of the workspace schema, run programmatically by models.workspace.

Shipped as Python modules with the code (no alembic.ini at run time). To change the schema:
change models/workspace_schema.py, add ``versions/vNNNN_what.py`` (from script.py.mako, with
``down_revision`` the previous revision; ``op.batch_alter_table`` for SQLite), and run the
tests: one checks that migrating to head yields exactly the tables of workspace_schema.
"""

from __future__ import annotations

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent

HEAD = "0001"
"""The newest revision in versions/ (a test checks it against Alembic's own answer): a
workspace already at it opens without importing Alembic (0.13 s of every launch)."""
