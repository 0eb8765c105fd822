"""Reading a log file: read-only, in blocks, gzip-aware, hashed in the same pass.

The file is opened ``rb`` and never written. Its size is taken when it is opened and nothing
beyond that size is read, so a log that is still being written gives a consistent
(size, digest, records) triple; what is appended later is picked up by a resumed import.

Offsets everywhere (records, problems, ``start_offset``) are byte offsets in the
*decompressed* input, counting a leading UTF-8 byte order mark; the progress callback and the
content digest (:mod:`models.digest`) see the raw file bytes.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from stat import S_ISREG
from types import TracebackType
from typing import BinaryIO

from models.digest import content_hasher, finish, prefix_digest
from models.problems import InputError

BLOCK_SIZE = 1 << 20
"""Bytes read (and decompressed) at a time: big enough to amortise per-batch work, small
enough that a batch of parsed records stays a few tens of MB."""

SNIFF_BYTES = 1 << 20
"""Input looked at to detect the format and the mapping."""

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"


def _open_error(path: Path, exc: OSError) -> InputError:
    if isinstance(exc, FileNotFoundError):
        return InputError(f"{path}: no such file; check the path")
    if isinstance(exc, IsADirectoryError):
        return InputError(f"{path}: is a directory, not a log file")
    if isinstance(exc, PermissionError):
        return InputError(f"{path}: permission denied; Rewind needs read access to the log")
    return InputError(f"{path}: cannot be read ({exc.strerror or exc})")


class Source:
    """One log file opened for reading; use as a context manager."""

    def __init__(self, path: str | os.PathLike[str], block_size: int = BLOCK_SIZE) -> None:
        self.path = Path(path)
        self.block_size = block_size
        try:
            self._file: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise _open_error(self.path, exc) from None
        try:
            st = os.fstat(self._file.fileno())
            if not S_ISREG(st.st_mode):
                raise InputError(f"{self.path}: not a regular file")
            self.size = st.st_size
            """Raw size when opened; nothing beyond it is read."""
            self.mtime_ns = st.st_mtime_ns
            self.compressed = self._file.read(2) == GZIP_MAGIC
        except OSError as exc:
            self._file.close()
            raise _open_error(self.path, exc) from None
        except InputError:
            self._file.close()
            raise
        self.raw_done = 0
        """Raw bytes consumed by :meth:`blocks` so far (for progress)."""
        self.sha1: str | None = None
        """Content digest of raw bytes ``[0, size)`` (:mod:`models.digest`; the name is the
        workspace column's); set when :meth:`blocks` started at 0 and ran to the end."""
        self.decompressed_size = 0
        """Decompressed bytes produced by :meth:`blocks`, counted from offset 0."""
        self._head: bytes | None = None

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def head(self) -> bytes:
        """The first :data:`SNIFF_BYTES` (or a block, if larger) of decompressed input, for
        detecting the format and the mapping (cached; not hashed)."""
        if self._head is None:
            want = max(self.block_size, SNIFF_BYTES)
            parts: list[bytes] = []
            total = 0
            for data in self._raw_blocks(0, hash_it=False, limit=want):
                parts.append(data)
                total += len(data)
                if total >= want:
                    break
            self._head = b"".join(parts)[:want]
        return self._head

    def blocks(self, start_offset: int = 0) -> Iterator[bytes]:
        """Decompressed input from ``start_offset`` to the end, one block at a time.

        A gzip stream that ends early (a compressed log still being written) simply ends; a
        corrupt one raises :class:`InputError`.
        """
        skip = start_offset if self.compressed else 0  # plain files seek instead
        for data in self._raw_blocks(start_offset, hash_it=start_offset == 0):
            if skip:
                if len(data) <= skip:
                    skip -= len(data)
                    continue
                data = data[skip:]
                skip = 0
            if data:
                yield data

    def _raw_blocks(
        self, start_offset: int, *, hash_it: bool, limit: int | None = None
    ) -> Iterator[bytes]:
        """Decompressed data from the start (gzip) or from ``start_offset`` (plain files)."""
        f = self._file
        size = self.size
        hasher = content_hasher() if hash_it else None
        try:
            if not self.compressed:
                f.seek(start_offset)
                pos = start_offset
                if hash_it:
                    self.raw_done = 0
                while pos < size:
                    data = f.read(min(self.block_size, size - pos))
                    if not data:
                        break
                    pos += len(data)
                    if hasher is not None:
                        hasher.update(data)
                    if limit is None:
                        self.raw_done = pos
                        self.decompressed_size = pos
                    yield data
                if hasher is not None:
                    self.sha1 = finish(hasher)
                return
            f.seek(0)
            decomp = zlib.decompressobj(wbits=31)
            pos = 0
            produced = 0
            while pos < size:
                raw = f.read(min(self.block_size, size - pos))
                if not raw:
                    break
                pos += len(raw)
                if hasher is not None:
                    hasher.update(raw)
                if limit is None:
                    self.raw_done = pos
                pending = raw
                while pending:
                    try:
                        data = decomp.decompress(pending, self.block_size)
                    except zlib.error as exc:
                        raise InputError(
                            f"{self.path}: the gzip data is corrupt at compressed byte "
                            f"{pos - len(pending)} ({exc}); re-create the file or "
                            "decompress what is readable with 'zcat' first"
                        ) from None
                    pending = decomp.unconsumed_tail
                    if decomp.eof:
                        # Concatenated gzip members are one stream (gzip(1) semantics).
                        rest = decomp.unused_data
                        decomp = zlib.decompressobj(wbits=31)
                        pending = rest + pending
                        if pending and pending.strip(b"\x00") == b"":
                            pending = b""  # zero padding after the last member
                    if data:
                        produced += len(data)
                        if limit is None:
                            self.decompressed_size = produced
                        yield data
                        if limit is not None and produced >= limit:
                            return
            # An unfinished last member is what a compressed log being written looks like:
            # what was decompressed is used and the rest is picked up by a resumed import.
            if hasher is not None:
                self.sha1 = finish(hasher)
        except OSError as exc:
            raise InputError(f"{self.path}: read error ({exc.strerror or exc})") from None


def file_digest(path: str | os.PathLike[str], size: int | None = None) -> str:
    """Content digest of the first ``size`` raw bytes (the whole file when ``None``).

    For deciding whether a log only grew: compare with the digest an earlier import stored
    for its size, then resume that import from its ``end_offset``.
    """
    return prefix_digest(path, size)
