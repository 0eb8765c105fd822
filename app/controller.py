"""The debugger's position: which branch, which display row, where we jumped from, playback.

Split on purpose (no god object): :class:`BranchRows` is the column view of one branch's
display sequence (numpy, Qt-free), :class:`Navigator` owns the session, branch, row and the
back/forward history of jumps, :class:`Player` only drives a timer. Views listen to the
Navigator's signals and pull what they need from the engine themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QObject, QTimer, Signal

from app.as_of import as_of_row
from app.history import RowMarks, row_marks
from app.session import Session
from models.event import Event, EventKey, datetime_to_us, parse_key
from models.log import NA, Columns

MAIN = "main"


def _sequence_arrays(seq: Any, n_log: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """The engine's ``sequence(branch)`` as (keys, dropped) arrays, whatever its container."""
    if seq is None:
        return np.arange(n_log, dtype=np.int64), np.zeros(n_log, dtype=bool)
    if isinstance(seq, tuple):
        keys, dropped = seq
    else:
        keys = seq.keys
        dropped = getattr(seq, "dropped", None)
    keys = np.asarray(keys, dtype=np.int64)
    if dropped is None:
        dropped = np.zeros(keys.shape[0], dtype=bool)
    return keys, np.asarray(dropped, dtype=bool)


@dataclass
class BranchRows:
    """Per display row of one branch: keys, dropped mask and the log's columns gathered.

    For the main branch (keys are 0..n-1) the log's own arrays are used, not copies. Rows
    that hold an inserted event (negative key) get code -1 / NA; their payload and names come
    from ``engine.event_at``.
    """

    branch: str
    keys: npt.NDArray[np.int64]
    dropped: npt.NDArray[np.bool_]
    stream_codes: npt.NDArray[np.int32]
    type_codes: npt.NDArray[np.int32]
    versions: npt.NDArray[np.int64]
    recorded_us: npt.NDArray[np.int64]
    processed_us: npt.NDArray[np.int64]
    identity: bool
    """True when row == key for every row (the log itself, nothing edited)."""
    marks: RowMarks | None = None
    """What the branch (and the ancestors' edits it sees) dropped, edited, inserted, moved,
    and its fork points; None for the log itself."""

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    @staticmethod
    def empty() -> BranchRows:
        return BranchRows.build(MAIN, Columns.empty(), None)

    @staticmethod
    def build(branch: str, columns: Columns, seq: Any) -> BranchRows:
        keys, dropped = _sequence_arrays(seq, len(columns))
        n = len(columns)
        identity = keys.shape[0] == n and bool(np.array_equal(keys, np.arange(n)))
        if identity:
            return BranchRows(
                branch,
                keys,
                dropped,
                columns.stream_codes,
                columns.type_codes,
                columns.versions,
                columns.recorded_us,
                columns.processed_us,
                True,
            )
        source = keys >= 0
        idx = np.where(source, keys, 0)

        def gather(arr: npt.NDArray[Any], missing: int) -> npt.NDArray[Any]:
            out = arr[idx] if n else np.zeros(keys.shape[0], arr.dtype)
            out[~source] = missing
            return out

        return BranchRows(
            branch,
            keys,
            dropped,
            gather(columns.stream_codes, -1),
            gather(columns.type_codes, -1),
            gather(columns.versions, NA),
            gather(columns.recorded_us, NA),
            gather(columns.processed_us, NA),
            False,
        )


class Navigator(QObject):
    """Session, branch, current display row (-1 = initial state) and the jump history.

    While the engine works in the background (``busy``), moves are held back and the last one
    asked for is made when it is done: views would otherwise fold states on the GUI thread
    while a worker uses the same engine (it is not thread-safe).
    """

    sessionChanged = Signal()
    """A new session or branch: every model resets (emitted before positionChanged)."""
    positionChanged = Signal(int)
    historyChanged = Signal()
    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.branch = MAIN
        self.rows = BranchRows.empty()
        self.row = -1
        self._back: list[tuple[str, int]] = []
        self._forward: list[tuple[str, int]] = []
        self._busy = False
        self._pending: tuple[int, bool] | None = None

    # --- background work ------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._busy

    def set_busy(self, busy: bool) -> None:
        """The engine is (no longer) in use by a worker; a held-back move is made after."""
        if busy == self._busy:
            return
        self._busy = busy
        self.busyChanged.emit(busy)
        if not busy and self._pending is not None:
            row, record = self._pending
            self._pending = None
            self.go_to(row, record=record)

    # --- what is open ---------------------------------------------------------------------

    @property
    def engine(self) -> Any:
        return None if self.session is None else self.session.engine

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def columns(self) -> Columns:
        return Columns.empty() if self.session is None else self.session.log.columns

    def set_session(self, session: Session | None, branch: str = MAIN, row: int = -1) -> None:
        self.session = session
        self._back.clear()
        self._forward.clear()
        self._pending = None
        self._load_branch(branch)
        self.row = max(-1, min(row, self.count - 1))
        self.sessionChanged.emit()
        self.historyChanged.emit()
        self.positionChanged.emit(self.row)

    def set_branch(self, branch: str) -> None:
        """Switch branch, keeping the current event when the new branch has it (else the
        nearest event before it that it has: "after the same event", by identity)."""
        old_keys, r = self.rows.keys, self.row
        self._load_branch(branch)
        row = -1
        while r >= 0:
            found = self.row_of_key(int(old_keys[r]))
            if found is not None:
                row = found
                break
            r -= 1
        self.row = row
        self.sessionChanged.emit()
        self.positionChanged.emit(self.row)

    def _load_branch(self, branch: str) -> None:
        self.branch = branch
        if self.session is None:
            self.rows = BranchRows.empty()
            return
        seq = self.session.engine.sequence(branch)
        self.rows = BranchRows.build(branch, self.session.log.columns, seq)
        if branch != MAIN or not self.rows.identity:
            self.rows.marks = row_marks(self.session.engine, branch)

    def reload(self) -> None:
        """The branch's sequence changed (an edit, an undo): rebuild the rows and reset every
        view, keeping the current event when it is still there."""
        self.set_branch(self.branch)

    def fork_row(self) -> int | None:
        """The row of this branch's fork point (the last event it shares with its parent)."""
        marks = self.rows.marks
        if marks is None or not marks.forks:
            return None
        name, _, key = marks.forks[0]
        if name != self.branch:
            return None
        return -1 if key is None else self.row_of_key(key)

    # --- moving ---------------------------------------------------------------------------

    def go_to(self, row: int, *, record: bool = True) -> None:
        """Move to ``row`` (clamped). ``record`` puts the row we leave on the back stack: jumps
        are recorded, steps and playback are not."""
        if self._busy:
            self._pending = (int(row), record)
            return
        row = max(-1, min(int(row), self.count - 1))
        if row == self.row:
            return
        if record:
            self._back.append((self.branch, self.row))
            self._forward.clear()
            self.historyChanged.emit()
        self.row = row
        self.positionChanged.emit(row)

    def note_jump(self, from_row: int) -> None:
        """Record a jump that was made in small moves (dragging the timeline cursor)."""
        if from_row != self.row:
            self._back.append((self.branch, from_row))
            self._forward.clear()
            self.historyChanged.emit()

    def step(self, delta: int = 1) -> None:
        self.go_to(self.row + delta, record=False)

    def to_start(self) -> None:
        self.go_to(-1)

    def to_end(self) -> None:
        self.go_to(self.count - 1)

    def at_end(self) -> bool:
        return self.row >= self.count - 1

    def can_back(self) -> bool:
        return bool(self._back)

    def can_forward(self) -> bool:
        return bool(self._forward)

    def back(self) -> None:
        self._travel(self._back, self._forward)

    def forward(self) -> None:
        self._travel(self._forward, self._back)

    def _travel(self, source: list[tuple[str, int]], dest: list[tuple[str, int]]) -> None:
        if not source or self._busy:
            return
        branch, row = source.pop()
        dest.append((self.branch, self.row))
        if branch != self.branch:
            self._load_branch(branch)
            self.sessionChanged.emit()
        self.row = max(-1, min(row, self.count - 1))
        self.historyChanged.emit()
        self.positionChanged.emit(self.row)

    # --- lookups --------------------------------------------------------------------------

    def current_key(self) -> EventKey | None:
        return None if self.row < 0 else int(self.rows.keys[self.row])

    def key_at(self, row: int) -> EventKey:
        return int(self.rows.keys[row])

    def current_event(self) -> Event | None:
        if self.session is None or self.row < 0:
            return None
        event: Event = self.session.engine.event_at(self.branch, self.row)
        return event

    def row_of_key(self, key: EventKey) -> int | None:
        if self.rows.identity:
            return int(key) if 0 <= key < self.count else None
        hits = np.flatnonzero(self.rows.keys == key)
        return int(hits[0]) if hits.size else None

    def rows_of_event_id(self, event_id: str) -> list[int]:
        """Display rows whose source event has this id (logs may repeat ids)."""
        if self.session is None or not event_id:
            return []
        keys = np.flatnonzero(self.columns.event_ids == event_id)
        rows = [self.row_of_key(int(k)) for k in keys]
        return [r for r in rows if r is not None]

    def row_at_time(self, us: int) -> int | None:
        """The first row recorded at or after ``us`` (rows without a time are skipped)."""
        rec = self.rows.recorded_us
        ok = np.flatnonzero((rec != NA) & (rec >= us))
        if ok.size == 0:
            return None
        return int(ok[np.argmin(rec[ok])])

    def resolve(self, text: str, time_mode: str = "after") -> int:
        """What the Go to dialog accepts: ``@key``, a position, an event id or a time. A time
        goes to the first event recorded at or after it (``time_mode`` "after"), or to the
        state as of it: the last event recorded ("as_of") or processed ("as_of_processed")
        at or before it (-1, the initial state, when none was).

        Raises ValueError with a message for the user when nothing matches.
        """
        text = text.strip()
        if not text:
            raise ValueError("Type a position, @key, event id or time.")
        key = parse_key(text)
        if key is None and text.isdigit():
            key = int(text)
        if key is not None:
            row = self.row_of_key(key)
            if row is None:
                raise ValueError(f"No event {text} in branch {self.branch}.")
            return row
        rows = self.rows_of_event_id(text)
        if rows:
            return rows[0]
        us = self._parse_time(text)
        if us is not None and time_mode != "after":
            processed = time_mode == "as_of_processed"
            return as_of_row(self.rows.processed_us if processed else self.rows.recorded_us, us)
        if us is not None:
            row = self.row_at_time(us)
            if row is None:
                raise ValueError(f"No event recorded at or after {text}.")
            return row
        raise ValueError(f"'{text}' is not a position, @key, event id or time in this log.")

    def _parse_time(self, text: str) -> int | None:
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                t = time.fromisoformat(text)
            except ValueError:
                return None
            rec = self.rows.recorded_us
            known = rec[rec != NA]
            if known.size == 0:
                return None
            day = datetime.fromtimestamp(int(known.min()) / 1e6, UTC).date()
            dt = datetime.combine(day, t, tzinfo=t.tzinfo or UTC)
        return datetime_to_us(dt)


class Player(QObject):
    """Steps the navigator forward on a timer until the end; speed in events per second."""

    playingChanged = Signal(bool)
    SPEEDS = (1, 2, 5, 10, 25, 50, 100, 250, 1000)

    def __init__(self, navigator: Navigator, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._nav = navigator
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._speed = 10
        self._per_tick = 1
        self.set_speed(10)
        navigator.sessionChanged.connect(self.pause)
        navigator.busyChanged.connect(lambda busy: self.pause() if busy else None)
        self.on_error: Callable[[BaseException], None] | None = None

    @property
    def speed(self) -> int:
        return self._speed

    def set_speed(self, events_per_second: int) -> None:
        # A timer cannot usefully fire faster than a frame, so fast speeds step several rows.
        self._speed = max(1, int(events_per_second))
        interval = max(16, round(1000 / self._speed))
        self._per_tick = max(1, round(self._speed * interval / 1000))
        self._timer.setInterval(interval)

    def is_playing(self) -> bool:
        return self._timer.isActive()

    def play(self) -> None:
        if self.is_playing() or self._nav.count == 0:
            return
        if self._nav.at_end():
            self._nav.go_to(-1)
        self._timer.start()
        self.playingChanged.emit(True)

    def pause(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
            self.playingChanged.emit(False)

    def toggle(self) -> None:
        if self.is_playing():
            self.pause()
        else:
            self.play()

    def _tick(self) -> None:
        try:
            self._nav.step(self._per_tick)
        except Exception as exc:  # a view failing must not leave the timer running
            self.pause()
            if self.on_error is not None:
                self.on_error(exc)
            return
        if self._nav.at_end():
            self.pause()
