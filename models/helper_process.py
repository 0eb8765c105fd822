"""A helper process: a fresh interpreter that runs one job and reports back.

Never a fork: the window runs long work on a worker thread of a Qt process. The job arrives
pickled (framed by an 8-byte length) on the helper's stdin; its messages are pickles framed
the same way on its stdout: progress of some kind while it runs, then one ``result`` or one
``error``. Anything more on its stdin (a stop request, or the end: the parent is gone) asks
it to stop. Users: the two-process import (:mod:`models.import_worker`) and the search over
payloads (:mod:`app.search_helper`).

The helper never waits for its parent to read: messages are written by a thread of their own
(:class:`_Sender`), and on Linux the pipe is widened to a megabyte. The parent reads when it
finds time (the import's parent parses too, and polls once per block); a blocking write
held the import's helper up for a third of its run.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import select
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from typing import IO, Any, ClassVar, Self

from models.memory import no_blas_threads

_FRAME = struct.Struct("<Q")
_READ_SIZE = 4 << 20
_PIPE_BYTES = 1 << 20
"""Capacity asked for the helper's message pipe (Linux: the default unprivileged maximum)."""
_F_SETPIPE_SZ = 1031

Send = Callable[[str, object], None]
StopRequested = Callable[[], bool]


class HelperProcess:
    """The parent's handle on one helper process. Subclasses name the helper's entry code
    and take the messages other than ``result`` and ``error``."""

    ENTRY: ClassVar[str]
    """Python code the helper runs, e.g. ``from models.import_worker import serve; serve()``."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        assert process.stdout is not None
        self._out: IO[bytes] = process.stdout
        self._fd = self._out.fileno()
        os.set_blocking(self._fd, False)
        self._buffer = bytearray()
        self._eof = False
        self.result: Any = None
        self.error: str | None = None
        self._has_result = False
        assert process.stdin is not None
        self._in: IO[bytes] = process.stdin

    @classmethod
    def start(cls, job: object) -> Self | None:
        """Start a helper for ``job``; ``None`` when no process can be started (the caller
        then does the work itself)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        no_blas_threads(env)  # numpy's BLAS threads are never used there: start none
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", cls.ENTRY],
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
        return cls(process)

    @property
    def finished(self) -> bool:
        return self._has_result or self.error is not None

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
            if kind == "result":
                self.result = payload
                self._has_result = True
            elif kind == "error":
                self.error = str(payload)
            else:
                self.on_message(kind, payload)
        if at:
            del buffer[:at]

    def on_message(self, kind: str, payload: Any) -> None:
        """A message other than the result or an error (progress, partial results)."""

    def wait(self, timeout: float) -> None:
        """Like :meth:`poll`, but keeps reading while a message is arriving."""
        self.poll(timeout)
        while not self.finished and self._buffer and not self._eof:
            self.poll(timeout)

    def request_stop(self) -> None:
        """Ask the helper to stop after its current step and send what it has."""
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


class _Sender:
    """Writes the helper's messages on a thread of its own, in order: the job goes on while
    the parent has not read the last ones yet."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        with contextlib.suppress(OSError, AttributeError, ValueError):
            import fcntl

            fcntl.fcntl(out.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name="rewind-helper-send", daemon=True)
        self._thread.start()

    def send(self, kind: str, payload: object) -> None:
        data = pickle.dumps((kind, payload), pickle.HIGHEST_PROTOCOL)
        self._queue.put(_FRAME.pack(len(data)))  # (not joined: the result may be big)
        self._queue.put(data)

    def _write(self) -> None:
        broken = False
        while (message := self._queue.get()) is not None:
            if broken:
                continue  # (the parent is gone: nothing can be said any more)
            try:
                self._out.write(message)
                self._out.flush()
            except OSError:
                broken = True

    def close(self) -> None:
        """Wait until everything sent is written."""
        self._queue.put(None)
        self._thread.join()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            raise EOFError("the parent process closed the pipe")
        data += more
    return bytes(data)


def serve(run: Callable[[Any, Send, StopRequested], object]) -> None:
    """The helper's side: read the job, ``run(job, send, stop_requested)``, send its result
    (or the error, which the parent reports or works around)."""
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the message stream
    sender = _Sender(out)
    try:
        stdin = sys.stdin.buffer
        (size,) = _FRAME.unpack(_read_exactly(stdin, _FRAME.size))
        job = pickle.loads(_read_exactly(stdin, size))
        # Anything more on stdin (a stop request, or the end: the parent is gone) means stop.
        poller = select.poll()
        poller.register(stdin.fileno(), select.POLLIN | select.POLLHUP)

        def stop_requested() -> bool:
            return bool(poller.poll(0))

        result = run(job, sender.send, stop_requested)
        sender.send("result", result)
    except BaseException as error:
        sender.send("error", f"{error!r}\n{traceback.format_exc()}")
    finally:
        sender.close()
