"""The second half of a big import, parsed in a helper process: the process and its
messages (what each side does with them: :mod:`models.import_parallel`).

A large plain JSON Lines file is cut at a line boundary: the importing process parses the
first part while a helper process (a fresh interpreter, never a fork: the GUI imports from a
worker thread of a Qt process) parses the rest with the same loop
(:mod:`models.importer`). The helper sends back columns, event ids, problems (lines counted
from its first line), duplicate-id findings (positions counted from its first record) and
*where* its stored records are in the file (offsets and lengths, plus the few records whose
stored form differs from the file's bytes) — not the records themselves: the parent reads
those bytes again from the page cache while it hashes the file, which costs far less than
sending hundreds of MB through a pipe.

Messages are pickles framed by an 8-byte length, on the helper's stdout: span batches
(where its next stored records are, and how far it got), then one result or one error. The
job arrives pickled (and framed) on its stdin; anything more there asks it to stop after its
current batch and send what it has (its records may already be in the sink), and the end of
stdin (the parent is gone) stops it too.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
import traceback
from collections import deque
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from models.log import Columns
from models.problems import Problem

_FRAME = struct.Struct("<Q")
_READ_SIZE = 4 << 20


@dataclass(frozen=True)
class PartJob:
    """What the helper parses: bytes ``[split, size)`` of ``path``."""

    path: str
    label: str
    fmt: str
    mapping: dict[str, Any]
    strict: bool
    split: int
    size: int
    max_record_bytes: int
    block_size: int


@dataclass
class PartResult:
    """What the helper found; positions and lines are relative to its part (0 and 1 at
    ``split``), byte offsets are absolute."""

    columns: Columns
    """Its columns; ``event_ids`` is empty when ``ids_text`` holds them."""
    ids_text: bytes | None
    """The event ids joined by newlines (UTF-8): far cheaper to send than a pickled list;
    ``None`` when an id contains a newline."""
    records_read: int
    skipped: int
    problems: list[Problem]
    """Everything its run reported, in the order reported; duplicate ids appear as
    placeholders (see ``findings``)."""
    findings: list[Any]
    """The duplicate-id findings (``models.importer._Finding``) the placeholders point to."""
    lines: npt.NDArray[np.int64]
    """Line of each stored record."""
    offsets: npt.NDArray[np.int64]
    """Byte offset of each stored record."""
    end_offset: int
    end_line: int
    crc32: int
    """CRC-32 of the bytes it parsed, ``[split, read_to)``: the parent checks that it hashed
    and stored the same bytes."""
    read_to: int
    strict_error: Problem | None = None
    """Strict mode: the first bad record of the part (it stopped there)."""
    cancelled: bool = False
    """It was asked to stop: the result covers the part up to ``end_offset``."""


@dataclass
class SpanBatch:
    """Where the next stored records of the part are (sent while it runs)."""

    first: int
    """Index (within the part) of the first record described."""
    offsets: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    """Length of each record as stored."""
    changed: dict[int, bytes]
    """Stored forms that are not the file's bytes at (offset, length), by record index."""


class PartProcess:
    """The parent's handle on one helper process."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        assert process.stdout is not None
        self._out: IO[bytes] = process.stdout
        self._fd = self._out.fileno()
        os.set_blocking(self._fd, False)
        self._buffer = bytearray()
        self._eof = False
        self.done = 0
        """Bytes of its part parsed so far (from its progress messages)."""
        self.result: PartResult | None = None
        self.error: str | None = None
        self.spans: deque[SpanBatch] = deque()
        """Span batches received and not yet used, in order."""
        assert process.stdin is not None
        self._in: IO[bytes] = process.stdin

    @staticmethod
    def start(job: PartJob) -> PartProcess | None:
        """Start a helper for ``job``; ``None`` when no process can be started (the caller
        then parses the whole file itself)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(name, "1")  # numpy's BLAS threads are never used there: start none
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", "from models.import_worker import serve; serve()"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        except OSError:
            return None
        try:
            assert process.stdin is not None
            data = pickle.dumps(job, pickle.HIGHEST_PROTOCOL)
            process.stdin.write(_FRAME.pack(len(data)) + data)
            process.stdin.flush()
        except OSError:
            process.kill()
            process.wait()
            return None
        return PartProcess(process)

    @property
    def finished(self) -> bool:
        return self.result is not None or self.error is not None

    def poll(self, timeout: float = 0.0) -> None:
        """Take in what the helper sent, waiting up to ``timeout`` seconds for something."""
        if self.finished:
            return
        if timeout > 0 and not self._eof:
            poller = select.poll()  # (select.select fails on descriptors above 1023)
            poller.register(self._fd, select.POLLIN)
            if not poller.poll(timeout * 1000):
                return
        while not self._eof:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                break
            except OSError as error:
                self.error = f"the helper process cannot be read ({error})"
                return
            if not data:
                self._eof = True
                break
            self._buffer += data
        self._take_messages()
        if self._eof and not self.finished:
            code = self._process.wait()
            self.error = f"the helper process ended unexpectedly (exit code {code})"

    def _take_messages(self) -> None:
        buffer = self._buffer
        at = 0
        while len(buffer) - at >= _FRAME.size:
            (size,) = _FRAME.unpack_from(buffer, at)
            if len(buffer) - at - _FRAME.size < size:
                break
            start = at + _FRAME.size
            kind, payload = pickle.loads(memoryview(buffer)[start : start + size])
            at = start + size
            if kind == "spans":
                spans, done = payload
                self.spans.append(spans)
                self.done = int(done)
            elif kind == "result":
                self.result = payload
            else:
                self.error = str(payload)
        if at:
            del buffer[:at]

    def wait(self, timeout: float) -> None:
        """Like :meth:`poll`, but keeps reading while a message is arriving."""
        self.poll(timeout)
        while not self.finished and self._buffer and not self._eof:
            self.poll(timeout)

    def request_stop(self) -> None:
        """Ask the helper to stop after its current batch and send what it has (its
        records already went to the sink: the import must account for them)."""
        with contextlib.suppress(OSError):
            self._in.write(b"s")
            self._in.flush()

    def stop(self) -> None:
        """End the helper (cancelled, failed or done) and reap it."""
        if self._process.poll() is None:
            self._process.kill()
        for pipe in (self._in, self._out):
            with contextlib.suppress(OSError):
                pipe.close()
        self._process.wait()


def _send(out: IO[bytes], kind: str, payload: object) -> None:
    data = pickle.dumps((kind, payload), pickle.HIGHEST_PROTOCOL)
    out.write(_FRAME.pack(len(data)))
    out.write(data)
    out.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            raise EOFError("the parent process closed the pipe")
        data += more
    return bytes(data)


def serve() -> None:
    """Entry point of the helper process: read the job, parse, send the result."""
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the message stream
    try:
        stdin = sys.stdin.buffer
        (size,) = _FRAME.unpack(_read_exactly(stdin, _FRAME.size))
        job = pickle.loads(_read_exactly(stdin, size))
        from models.import_parallel import run_part

        # Anything more on stdin (a stop request, or the end: the parent is gone) means stop.
        poller = select.poll()
        poller.register(stdin.fileno(), select.POLLIN | select.POLLHUP)

        def stop_requested() -> bool:
            return bool(poller.poll(0))

        result = run_part(job, lambda kind, payload: _send(out, kind, payload), stop_requested)
        _send(out, "result", result)
    except BaseException as error:  # reported to the parent, which then parses it itself
        with contextlib.suppress(OSError):
            _send(out, "error", f"{error!r}\n{traceback.format_exc()}")
