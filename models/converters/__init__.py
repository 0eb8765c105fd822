"""Logs other tools write, converted to canonical JSON Lines before the ordinary import.

:func:`pick` finds the converter for an input (by ``--format`` name, or by sniffing its first
bytes); :func:`convert_cached` writes the canonical file once per content of the input into
Rewind's cache, so reopening an unchanged input is the workspace's usual fast reopen of that
file. The input itself is only read.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import orjson

from models.converters.base import (
    Conversion,
    ConversionCancelled,
    Converter,
    ProgressFn,
    canonical_line,
)
from models.paths import data_dir
from models.problems import InputError, Problem, Severity

HEAD_BYTES = 65_536
_REGISTRY: list[Converter] = []


def register(converter: Converter) -> Converter:
    """Add a converter (tests may register their own; a name is taken once)."""
    if all(c.name != converter.name for c in _REGISTRY):
        _REGISTRY.append(converter)
    return converter


def converters() -> list[Converter]:
    return list(_REGISTRY)


def names() -> list[str]:
    return [c.name for c in _REGISTRY]


def pick(path: Path, fmt: str | None = None) -> Converter | None:
    """The converter ``fmt`` names, or (``fmt`` None) the first whose sniff accepts the
    input; None for the formats the importer reads itself."""
    if fmt is not None:
        return next((c for c in _REGISTRY if c.name == fmt), None)
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return None
    for converter in _REGISTRY:
        if converter.sniff(path, head):
            return converter
    return None


def content_key(path: Path) -> str:
    """What identifies the input's content: a hash of its bytes (a SQLite database also
    hashes its write-ahead log, where recent commits live until a checkpoint)."""
    hasher = hashlib.sha1(usedforsecurity=False)
    for part in (path, Path(f"{path}-wal")):
        if part.exists():
            with open(part, "rb") as fh:
                while block := fh.read(1 << 20):
                    hasher.update(block)
    return hasher.hexdigest()[:16]


def cache_dir() -> Path:
    return data_dir() / "converted"


def convert_cached(
    path: Path,
    converter: Converter,
    *,
    strict: bool = False,
    progress: ProgressFn | None = None,
) -> tuple[Path, Conversion]:
    """The canonical file for ``path`` and what its conversion reported (kept beside it,
    so a workspace that meets the cached file for the first time still gets the problems)."""
    return cached(
        path.name,
        converter.name,
        str(path.expanduser().resolve()),
        content_key(path),
        lambda out: converter.convert(path, out, strict=strict, progress=progress),
        strict=strict,
    )


def cached(
    label: str,
    kind: str,
    identity: str,
    key: str,
    write: Callable[[IO[bytes]], Conversion],
    *,
    strict: bool = False,
) -> tuple[Path, Conversion]:
    """The cache file of one input (``identity``: its path, or a database's masked name),
    written by ``write`` unless it already holds content ``key``.

    The file's name stays the same when the input changes, so the workspace sees the same
    log grown or changed — its branches, bookmarks and breakpoints stay with it — instead of
    a new log. With ``strict``, a cached conversion that had skipped records raises as the
    conversion itself would have."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in label)[:60]
    digest = hashlib.sha1(identity.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]
    target = folder / f"{stem}.{kind}.{digest}.jsonl"
    report = target.with_suffix(".report.json")
    if target.exists() and report.exists():
        try:
            found_key, conversion = _read_report(report)
        except (OSError, ValueError, TypeError, KeyError):
            found_key, conversion = None, None  # an unreadable report: convert again
        if found_key == key and conversion is not None:
            if strict:
                first = next((p for p in conversion.problems if p.severity is Severity.ERROR), None)
                if first is not None:
                    raise InputError(f"{first.location()}: {first.reason}", [first])
            return target, conversion
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".converting-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "wb") as out:
            conversion = write(out)
        report.write_bytes(_report_bytes(key, conversion))
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target, conversion


def _report_bytes(key: str, c: Conversion) -> bytes:
    return orjson.dumps(
        {
            "key": key,
            "records": c.records,
            "skipped": c.skipped,
            "notes": c.notes,
            "problems": [p.to_json() for p in c.problems],
        }
    )


def _read_report(path: Path) -> tuple[str | None, Conversion]:
    data = orjson.loads(path.read_bytes())
    problems = [
        Problem(
            file=str(p["file"]),
            line=int(p["line"]),
            offset=int(p["offset"]),
            reason=str(p["reason"]),
            severity=Severity(p["severity"]),
            excerpt=str(p.get("excerpt", "")),
        )
        for p in data["problems"]
    ]
    conversion = Conversion(
        int(data["records"]), int(data["skipped"]), problems, list(data["notes"])
    )
    key = data.get("key")
    return (str(key) if key is not None else None), conversion


def _register_builtin() -> None:
    """In sniffing order: the database first, then the JSON shapes, CSV last."""
    from models.converters import csvlog, eventsourcing_store, eventstore, kafka, redux

    for module in (eventsourcing_store, kafka, eventstore, redux, csvlog):
        register(module.CONVERTER)


_register_builtin()

__all__ = [
    "Conversion",
    "ConversionCancelled",
    "Converter",
    "InputError",
    "canonical_line",
    "convert_cached",
    "converters",
    "names",
    "pick",
    "register",
]
