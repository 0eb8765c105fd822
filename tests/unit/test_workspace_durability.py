"""What was reported as saved survives the process being killed mid-way through a write."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from models.edits import Edit, EditKind
from models.workspace import SourceStatus, Workspace
from models.workspace_log import WorkspaceLog
from tests.unit.test_workspace_support import decode, import_log, make_events

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import sys
from sqlalchemy import event
from models.edits import Edit, EditKind
from models.workspace import Workspace
import models.workspace_import as workspace_import

workspace_import.FLUSH_BYTES = 64 << 20  # long write transactions
ws = Workspace.open(sys.argv[1])
branch_id = int(sys.argv[2])
for i in range(25):
    edit = ws.append_edit(branch_id, Edit(EditKind.EDIT, target=i, changes={"data": {"i": i}}))
    print("saved", edit.seq, edit.target, flush=True)

def announce(conn, cursor, statement, parameters, context, executemany):
    if statement.startswith('INSERT INTO "chunks"') or statement.startswith("INSERT INTO chunks"):
        print("writing", flush=True)  # the parent kills us now, inside the transaction

event.listen(ws.engine, "before_cursor_execute", announce)
writer = ws.begin_import(sys.argv[3])
record = b'{"data": "' + b"x" * 240 + b'"}'
records = [record] * 1024
pos = 0
while pos < 1024 * 10_000:  # about 2.5 GB: far longer than the parent waits
    writer.add_chunk(pos, records)
    pos += 1024
print("never killed", flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_reported_edits_survive_sigkill_during_a_long_write(tmp_path: Path) -> None:
    path = tmp_path / "ws.sqlite"
    events = make_events(40)
    with Workspace.open(path) as ws:
        source = import_log(ws, tmp_path / "log.jsonl", events)
        branch = ws.create_branch(source.id, "b")
    second_log = tmp_path / "big.jsonl"
    second_log.write_bytes(b"{}\n")

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(branch.id), str(second_log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    reported: list[tuple[int, int]] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("saved"):
                _, seq, target = line.split()
                reported.append((int(seq), int(target)))
            elif line.startswith("writing"):
                child.send_signal(signal.SIGKILL)
                break
            else:
                pytest.fail(f"unexpected output from the child: {line!r}")
    finally:
        child.kill()
        _, err = child.communicate()
    assert child.returncode == -signal.SIGKILL, err
    assert len(reported) == 25

    with Workspace.open(path) as ws:
        saved = ws.edits(branch.id)
        assert [(e.seq, e.target) for e in saved] == reported
        assert saved[-1] == Edit(EditKind.EDIT, target=24, changes={"data": {"i": 24}}, seq=25)
        assert list(WorkspaceLog(ws, source.id, decode).iter_events()) == events
        unfinished = ws.find_source(second_log)
        assert unfinished is not None and unfinished.status is SourceStatus.IMPORTING
        with ws.begin_import(second_log) as writer:  # the interrupted import is redone
            writer.add_chunk(0, [b"{}"])
            assert writer.source_id == unfinished.id
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
