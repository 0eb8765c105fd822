"""Loading the user's projection modules, and deciding whether they may run.

A projection file is ordinary Python (see replay_engine.api). Loading it runs it, so Rewind
only loads a file the user chose: given on the command line, picked in File > Open
projection…, or named by a workspace *and* confirmed once on this machine (a workspace can be
shared; the file it names could have changed). The trust record is the file's SHA-256 in the
user's data directory: an edited file asks again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from app.errors import UsageError
from models.event import Event
from models.paths import data_dir
from replay_engine.api import Projection, ProjectionDefinitionError, check_unique, projections_in

RESPONSES_SUFFIX = ".responses.json"
"""Recorded gateway answers beside a log: ``shop.jsonl`` -> ``shop.responses.json``."""
PROJECTIONS_META = "projections"
"""Workspace meta key: the projection files this log was debugged with (JSON list)."""
_TRUST_FILE = "trusted-projections.json"
_serial = itertools.count(1)


class ProjectionLoadError(UsageError):
    """A projection file that cannot be loaded; the message names the file and line."""


@dataclass(frozen=True)
class LoadedFile:
    path: Path
    sha256: str
    projections: list[Projection]


def file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise ProjectionLoadError(f"cannot read {path}: {error.strerror}") from None


def load_file(path: str | Path) -> LoadedFile:
    """Run the module at ``path`` (a fresh module each time: reloading picks up edits) and
    return the projections it defines."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ProjectionLoadError(f"{path}: no such projection file")
    digest = file_digest(path)
    name = f"rewind_projection_{path.stem}_{next(_serial)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ProjectionLoadError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    sys.path.insert(0, folder)  # helper modules beside it import as they would for its author
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise ProjectionLoadError(
            f"{path}:{error.lineno}: syntax error: {error.msg}; fix the file and reload"
        ) from None
    except ProjectionDefinitionError as error:
        raise ProjectionLoadError(f"{path}: {error}") from None
    except Exception as error:
        raise ProjectionLoadError(
            f"{path}:{_user_line(error, path)}: loading it raised {type(error).__name__}: {error}"
        ) from None
    finally:
        sys.modules.pop(name, None)
        if folder in sys.path:
            sys.path.remove(folder)
    found = projections_in(vars(module))
    if not found:
        raise ProjectionLoadError(
            f"{path} defines no projection: create one with "
            '`shop = Projection("shop")` (from replay_engine.api import Projection)'
        )
    try:
        check_unique(found)
    except ProjectionDefinitionError as error:
        raise ProjectionLoadError(f"{path}: {error}") from None
    return LoadedFile(path, digest, found)


def _user_line(error: BaseException, path: Path) -> int:
    """The line of ``path`` where ``error`` was raised (its deepest frame in that file)."""
    line = 0
    for frame in traceback.extract_tb(error.__traceback__):
        if Path(frame.filename) == path and frame.lineno is not None:
            line = frame.lineno
    return line


def responses_path(log_path: Path) -> Path:
    """``shop.jsonl`` and ``shop.jsonl.gz`` -> ``shop.responses.json``."""
    name = log_path.name.removesuffix(".gz")
    return log_path.with_name(Path(name).stem + RESPONSES_SUFFIX)


def load_responses(log_path: Path | None) -> dict[str, dict[str, Any]]:
    """The recorded-responses file beside the log (``{}`` when there is none)."""
    if log_path is None:
        return {}
    path = responses_path(log_path)
    if not path.is_file():
        return {}
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise ProjectionLoadError(
            f"{path}: not valid JSON ({error}); it should map gateway names to "
            '{"key": answer} objects'
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ProjectionLoadError(
            f'{path}: expected {{"gateway name": {{"key": answer, ...}}, ...}}'
        )
    return data


# --- what the window shows about the user's code (Qt-free, so testable) --------------------


def handled_by(projection: Any, event: Event) -> str | None:
    """The inspector's line on which handler version applies ``event``; None for a
    projection without versioned handlers (the generic one)."""
    rule_for = getattr(projection, "rule_for", None)
    if rule_for is None:
        return None
    name = projection.name
    try:
        rule = rule_for(event)
    except LookupError as error:  # the replay stops at this event with the same message
        return f"{name}: {error}"
    if rule is None:
        return f"{name}: no handler for {event.type} (the state is unchanged)"
    return f"{name}: handled by {rule.describe()}"


def upcast_of(projection: Any, event: Event) -> tuple[Event, int] | None:
    """What the projection's upcasters make of ``event`` and how many steps that took; None
    when none apply. An upcaster that raises raises here (the caller shows it)."""
    upcast_steps = getattr(projection, "upcast_steps", None)
    steps = [] if upcast_steps is None else upcast_steps(event)
    return (projection.upcast(event), len(steps)) if steps else None


# --- trust ----------------------------------------------------------------------------------


def _trust_path() -> Path:
    return data_dir() / _TRUST_FILE


def _trusted() -> dict[str, str]:
    try:
        data = orjson.loads(_trust_path().read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def is_trusted(path: Path) -> bool:
    """Whether the user allowed this exact file content to run on this machine."""
    path = path.expanduser().resolve()
    try:
        digest = file_digest(path)
    except ProjectionLoadError:
        return False
    return _trusted().get(str(path)) == digest


def trust(path: Path) -> None:
    path = path.expanduser().resolve()
    trusted = _trusted()
    trusted[str(path)] = file_digest(path)
    target = _trust_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(trusted, option=orjson.OPT_INDENT_2))
    tmp.replace(target)


_RE_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<fn>\S+)')
_ROOT = Path(__file__).resolve().parents[1]
_NOT_USER = tuple(
    str(p) + os.sep
    for p in (
        *(_ROOT / package for package in ("app", "models", "replay_engine", "views")),
        Path(sys.prefix).resolve(),
        Path(sys.base_prefix).resolve(),
    )
)
"""Frames in these folders are Rewind's or Python's, not the user's projection."""


def user_location(traceback_text: str) -> tuple[str, int, str] | None:
    """(file, line, function) of the deepest frame of a traceback in the user's code: where
    in their projection the failure happened (None when no frame is theirs)."""
    found = None
    for match in _RE_FRAME.finditer(traceback_text):
        if not match["file"].startswith(_NOT_USER):
            found = (match["file"], int(match["line"]), match["fn"])
    return found
