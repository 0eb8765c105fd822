"""``main.py``: the window by default, headless sub-commands for scripts, CI and tests.

Exit codes: 0 success, 2 usage error (bad arguments, unknown branch or event, invalid edit),
3 input error (a log that cannot be read; the report goes to stderr).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import orjson

from app.errors import UsageError
from models import converters
from models.problems import InputError, Problem
from replay_engine.errors import ProjectionError

COMMANDS = ("inspect", "state", "query", "branch", "diff", "export", "generate")
EXIT_OK, EXIT_USAGE, EXIT_INPUT = 0, 2, 3


def _dump(value: Any) -> str:
    return orjson.dumps(
        value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str
    ).decode()


def _print_problems(problems: Sequence[Problem], limit: int = 20) -> None:
    for p in problems[:limit]:
        print(f"  {p.severity.value}: {p.location()}: {p.reason}", file=sys.stderr)
    if len(problems) > limit:
        print(f"  ... and {len(problems) - limit} more (use --json for all)", file=sys.stderr)


# --- argument parsing -----------------------------------------------------------------------


def _flags(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """The options every command takes. ``suppress``: for the branch actions, which accept
    them after the action too without clobbering values given before it."""
    d: dict[str, Any] = {"default": argparse.SUPPRESS} if suppress else {}
    parser.add_argument(
        "--workspace",
        metavar="PATH_OR_URL",
        help="workspace: a SQLite file or a SQLAlchemy URL (default: one per log in the "
        "user's data directory)",
        **d,
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output", **d)
    parser.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first bad record instead of skipping",
        **d,
    )
    parser.add_argument(
        "--input-format",
        dest="fmt",
        metavar="FORMAT",
        help="read LOG as this format instead of detecting it: jsonl, json-array, "
        f"cloudevents, or one that is converted on import ({', '.join(converters.names())})",
        **d,
    )
    parser.add_argument(
        "--mapping",
        metavar="JSON",
        help='field mapping overrides, e.g. \'{"stream": "aggregate", "type": "kind"}\'',
        **d,
    )
    parser.add_argument(
        "--table",
        metavar="NAME",
        help="LOG is a database URL (SQLAlchemy: sqlite:///f.db, postgresql+psycopg://...): "
        "read the events of this table",
        **d,
    )
    parser.add_argument(
        "--schema",
        metavar="NAME",
        help="with a database URL: the schema of the table or the eventsourcing store "
        "(default: the database's own, public on PostgreSQL)",
        **d,
    )
    parser.add_argument(
        "--columns",
        metavar="JSON",
        help='with --table: canonical field -> column, e.g. \'{"stream": "aggregate_id", '
        '"type": "kind", "data": "payload"}\' (type is required)',
        **d,
    )
    parser.add_argument(
        "--rows-where",
        dest="rows_where",
        action="append",
        metavar="COLUMN=VALUE",
        help="with --table: only rows whose column equals the value (repeatable; bound as a "
        "parameter, never pasted into the SQL)",
        **d,
    )
    parser.add_argument(
        "--since", metavar="TIME", help="query, --table: recorded at or after (ISO 8601)", **d
    )
    parser.add_argument("--until", metavar="TIME", help="query, --table: recorded before", **d)
    parser.add_argument(
        "--projection",
        action="append",
        metavar="FILE",
        help="replay through the projections of this Python file (see replay_engine/api.py); "
        "repeatable",
        **d,
    )
    parser.add_argument(
        "--use",
        metavar="NAME",
        help="which loaded projection to use (default: the first of the first --projection)",
        **d,
    )


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "log", metavar="LOG", help="the event log file (or a database URL, with --table)"
    )
    _flags(common)
    action_flags = argparse.ArgumentParser(add_help=False)
    _flags(action_flags, suppress=True)

    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Rewind: a time-travel debugger for event-sourced systems. Without a "
        "command, opens the window (on LOG if given).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("inspect", parents=[common], help="events, streams, types, time range, problems")

    p = sub.add_parser("state", parents=[common], help="the state after an event, as JSON")
    p.add_argument("--at", metavar="POS", help="row N of the branch, @POS or an event id")
    p.add_argument(
        "--as-of",
        metavar="TIME",
        help="the state after the last event recorded at or before TIME (ISO 8601)",
    )
    p.add_argument(
        "--processed", action="store_true", help="with --as-of: by processed time instead"
    )
    p.add_argument("--branch", default="main", metavar="NAME")
    p.add_argument("--path", metavar="DOTTED.PATH", help="print only this part of the state")

    p = sub.add_parser("branch", parents=[common], help="create and edit parallel systems")
    bsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = bsub.add_parser(parents=[action_flags], name="create", help="fork a branch")
    b.add_argument("name")
    b.add_argument("--from", dest="parent", default="main", metavar="BRANCH")
    b.add_argument("--at", metavar="EVENT", help="fork after this event (default: the start)")
    for action in ("drop", "restore"):
        b = bsub.add_parser(
            parents=[action_flags], name=action, help=f"{action} an event in a branch"
        )
        b.add_argument("name")
        b.add_argument("event", metavar="EVENT", help="an event id, @POS or @+N (inserted)")
    b = bsub.add_parser(
        parents=[action_flags], name="edit", help="replace an event's payload in a branch"
    )
    b.add_argument("name")
    b.add_argument("event", metavar="EVENT")
    b.add_argument("--data", required=True, metavar="JSON")
    b = bsub.add_parser(
        parents=[action_flags], name="insert", help="insert a new event in a branch"
    )
    b.add_argument("name")
    b.add_argument("--after", required=True, metavar="EVENT", help="EVENT, or 'start'")
    b.add_argument("--event", required=True, metavar="JSON", help='{"stream", "type", "data"}')
    b = bsub.add_parser(parents=[action_flags], name="move", help="move an event in a branch")
    b.add_argument("name")
    b.add_argument("event", metavar="EVENT")
    b.add_argument("--after", required=True, metavar="EVENT", help="EVENT, or 'start'")
    b = bsub.add_parser(
        parents=[action_flags], name="undo", help="undo the latest edit of a branch"
    )
    b.add_argument("name")
    b = bsub.add_parser(
        parents=[action_flags], name="redo", help="redo the latest undone edit of a branch"
    )
    b.add_argument("name")
    bsub.add_parser(parents=[action_flags], name="list", help="the branches of this log")

    p = sub.add_parser("query", parents=[common], help="the events that match a filter")
    p.add_argument(
        "--where",
        metavar="EXPR",
        help="JMESPath over {id, stream, type, version, data, metadata}, e.g. "
        "\"data.amount > 100 && metadata.service == 'payments'\"",
    )
    p.add_argument("--type", dest="types", metavar="GLOBS", help="event types, e.g. 'Order*'")
    p.add_argument("--stream", dest="streams", metavar="GLOBS", help="streams, e.g. 'customer-*'")
    p.add_argument("--text", metavar="TEXT", help="text anywhere in the payload or metadata")
    p.add_argument("--branch", default="main", metavar="NAME")
    p.add_argument("--limit", type=int, default=100, metavar="N", help="print at most N (0: all)")

    p = sub.add_parser("diff", parents=[common], help="structural diff of two branch states")
    p.add_argument("a", metavar="A[@POS]")
    p.add_argument("b", metavar="B[@POS]")

    p = sub.add_parser("export", parents=[common], help="write a branch's effective log")
    p.add_argument("--branch", default="main", metavar="NAME")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--format", dest="out_format", choices=("jsonl", "cloudevents"), default="jsonl")
    # --- issue 4 (merge back): a report of the edits, or compensating events instead --------
    p.add_argument(
        "--report",
        action="store_true",
        help="also write FILE.report.md and FILE.report.json: every dropped, edited, "
        "inserted and moved event",
    )
    p.add_argument(
        "--compensating",
        action="store_true",
        help="write the events that, appended to --base's log, bring it to the branch's state",
    )
    p.add_argument("--base", default="main", metavar="NAME", help="with --compensating")
    p.add_argument(
        "--correction-type", default="StateCorrected", metavar="TYPE", help="with --compensating"
    )

    p = sub.add_parser("generate", help="write a generated shop log (for demos and benchmarks)")
    p.add_argument("out", metavar="FILE")
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--format", dest="gen_format", choices=("jsonl", "cloudevents"), default="jsonl")
    p.add_argument("--gzip", action="store_true")
    return parser


# --- commands -------------------------------------------------------------------------------


def _open_table(args: argparse.Namespace, table: str | None) -> Any:
    from app.session import open_eventsourcing_store, open_table
    from models.converters.sqltable import TableSource

    schema = getattr(args, "schema", None)
    if not table and "://" in args.log and args.fmt == "eventsourcing":
        return open_eventsourcing_store(
            args.log, schema=schema, workspace=args.workspace, strict=args.strict
        )
    if not table or "://" not in args.log:
        raise UsageError(
            "a database needs a URL as LOG and --table NAME (or --input-format eventsourcing "
            "for a store of the Python eventsourcing library), e.g. "
            'main.py inspect sqlite:///events.db --table events --columns \'{"type": "kind"}\''
        )
    columns: Any = {}
    if getattr(args, "columns", None):
        try:
            columns = orjson.loads(args.columns)
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"--columns is not valid JSON: {exc}") from None
        if not isinstance(columns, dict):
            raise UsageError('--columns must be a JSON object like {"type": "kind"}')
    where: dict[str, Any] = {}
    for item in getattr(args, "rows_where", None) or []:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise UsageError(f"--rows-where {item!r}: write COLUMN=VALUE")
        try:  # 7, 2.5, true, null as such; anything else as text
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = value
        where[column.strip()] = parsed if isinstance(parsed, int | float | bool) else value
    source = TableSource(
        url=args.log,
        table=table,
        columns={str(k): str(v) for k, v in columns.items()},
        where=where,
        since=getattr(args, "since", None),
        until=getattr(args, "until", None),
        schema=schema,
    )
    return open_table(source, workspace=args.workspace, strict=args.strict)


def _open(args: argparse.Namespace) -> Any:
    from app.session import open_session

    mapping = None
    if args.mapping:
        try:
            mapping = orjson.loads(args.mapping)
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"--mapping is not valid JSON: {exc}") from None
        if not isinstance(mapping, dict):
            raise UsageError('--mapping must be a JSON object like {"stream": "aggregate"}')
    table = getattr(args, "table", None)
    if table or "://" in args.log:
        session = _open_table(args, table)
    else:
        session = open_session(
            Path(args.log),
            workspace=args.workspace,
            strict=args.strict,
            fmt=args.fmt,
            mapping=mapping,
        )
    try:
        names: list[str] = []
        for path in getattr(args, "projection", None) or []:
            names += session.add_projection_file(path)
        use = getattr(args, "use", None) or (names[0] if names else None)
        if use is not None:
            session.use_projection(use)
    except BaseException:
        session.close()
        raise
    return session


def cmd_inspect(args: argparse.Namespace) -> int:
    from app.findings import findings_lines, findings_report
    from app.reports import inspect_report

    session = _open(args)
    report = inspect_report(session)
    found = findings_report(session)
    report.update(found["findings"])  # conflicts, gaps, redeliveries, id_collisions, ...
    report.update(found)
    if args.json:
        print(_dump(report))
        return EXIT_OK
    tr = report["time_range"]
    print(
        f"{session.name}: {report['events']:,} events ({report['format']}), "
        f"{report['streams']:,} streams, {len(report['types'])} types"
    )
    if tr["first"]:
        print(f"time range: {tr['first']} .. {tr['last']}")
    width = max((len(t) for t in report["types"]), default=0)
    for name, count in sorted(report["types"].items(), key=lambda kv: -kv[1]):
        print(f"  {name:<{width}}  {count:>10,}")
    print(
        f"records read: {report['records_read']:,}, imported: {report['events']:,}, "
        f"skipped: {report['skipped']:,}, warnings: {report['warnings']:,}"
    )
    for line in findings_lines(report):
        print(line)
    if session.problems:
        print("import problems:", file=sys.stderr)
        _print_problems(session.problems)
    return EXIT_OK


def cmd_state(args: argparse.Namespace) -> int:
    from app.reports import select_path

    session = _open(args)
    ops = session.branch_ops(args.branch)
    if args.as_of is not None:
        if args.at is not None:
            raise UsageError("give --at or --as-of, not both")
        from app.as_of import as_of_row, branch_times
        from models.timeparse import parse_timestamp

        try:
            us = parse_timestamp(args.as_of)
        except ValueError as exc:
            raise UsageError(f"--as-of: {exc}") from None
        row = as_of_row(branch_times(session, args.branch, processed=args.processed), us)
    else:
        row = ops.row_for(args.at)
    state = ops.materialize(row)
    if args.path:
        state = select_path(state, args.path)
    print(_dump(state))
    return EXIT_OK


def cmd_query(args: argparse.Namespace) -> int:
    from app.search import Filter, matching_rows
    from models.event import format_key, format_us
    from models.timeparse import parse_timestamp
    from replay_engine.query import ExpressionError

    def time(value: str | None, name: str) -> int | None:
        if value is None:
            return None
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            raise UsageError(f"{name}: {exc}") from None

    f = Filter(
        types=args.types,
        streams=args.streams,
        since_us=time(getattr(args, "since", None), "--since"),
        until_us=time(getattr(args, "until", None), "--until"),
        text=args.text,
        where=args.where,
    )
    try:
        f.check()
    except ExpressionError as exc:
        raise UsageError(f"--where: {exc}") from None
    session = _open(args)
    engine = session.engine
    if args.branch not in engine.branches():
        raise UsageError(f"no branch named {args.branch!r}")
    rows = matching_rows(engine, args.branch, f)
    shown = rows if args.limit <= 0 else rows[: args.limit]
    found = []
    for row, event in engine.iter_events(args.branch, shown):
        found.append(
            {
                "row": row,
                "key": format_key(event.key),
                "id": event.event_id,
                "stream": event.stream,
                "type": event.type,
                "version": event.version,
                "recorded_at": format_us(event.recorded_us),
                "data": event.data,
                "metadata": event.metadata,
            }
        )
    if args.json:
        print(_dump({"filter": f.describe(), "count": int(rows.shape[0]), "events": found}))
        return EXIT_OK
    for e in found:
        print(f"{e['key']:>9}  {e['recorded_at'] or '':<27} {e['stream']:<24} {e['type']:<22} "
              f"{_short(e['data'], 60)}")  # fmt: skip
    more = f" (first {len(found):,} shown; --limit 0 for all)" if len(found) < len(rows) else ""
    print(f"{rows.shape[0]:,} event(s) match {f.describe()} in {args.branch}{more}")
    return EXIT_OK


def cmd_branch(args: argparse.Namespace) -> int:
    session = _open(args)
    if args.action == "list":
        rows = session.branch_list()
        if args.json:
            print(_dump(rows))
        else:
            for r in rows:
                parent = f" from {r['parent']}" if r["parent"] else ""
                fork = f" at {r['fork_at']}" if r["fork_at"] else ""
                print(f"{r['name']}{parent}{fork}: {r['edits']} edits")
        return EXIT_OK
    if args.action == "create":
        info = session.create_branch(args.name, parent=args.parent, at=args.at)
    else:
        ops = session.branch_ops(args.name)
        if args.action in ("drop", "restore"):
            info = getattr(ops, args.action)(args.event)
        elif args.action == "edit":
            info = ops.edit(args.event, _json_arg(args.data, "--data"))
        elif args.action == "insert":
            info = ops.insert(args.after, _json_arg(args.event, "--event"))
        elif args.action == "move":
            info = ops.move(args.event, args.after)
        else:
            info = getattr(ops, args.action)()
    print(_dump(info) if args.json else info["message"])
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from app.reports import diff_report

    session = _open(args)
    report = diff_report(session, args.a, args.b)
    if args.json:
        print(_dump(report))
        return EXIT_OK
    for c in report["changes"]:
        if c["change"] == "added":
            print(f"+ {c['path']}: {_short(c['new'])}")
        elif c["change"] == "removed":
            print(f"- {c['path']}: {_short(c['old'])}")
        else:
            print(f"~ {c['path']}: {_short(c['old'])} -> {_short(c['new'])}")
    fd = report["first_divergence"]
    print(f"{len(report['changes'])} changes; first divergent event: {fd['event'] if fd else '-'}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from app.export import export_branch

    session = _open(args)
    out = Path(args.out)
    if session.path is not None and out.resolve() == session.path.resolve():
        raise UsageError("--out names the source log itself; Rewind never writes the source log")
    if args.compensating or args.report:  # issue 4: merge back (app/compensate.py)
        return _export_merge_back(args, session, out)
    count = export_branch(session, args.branch, out, args.out_format)
    msg = {"branch": args.branch, "events": count, "out": str(out), "format": args.out_format}
    print(_dump(msg) if args.json else f"wrote {count:,} events of {args.branch} to {out}")
    return EXIT_OK


def _export_merge_back(args: argparse.Namespace, session: Any, out: Path) -> int:
    from app.compensate import (
        compensating_events,
        export_with_report,
        report_path,
        write_records,
    )

    if args.compensating:
        comp = compensating_events(
            session.engine, args.branch, base=args.base, event_type=args.correction_type
        )
        count = write_records(comp.records, out, args.out_format)
        msg = {
            "branch": args.branch,
            "base": args.base,
            "events": count,
            "out": str(out),
            "bookkeeping_only": comp.bookkeeping,
            "unresolved": comp.unresolved,
        }
        lines = [f"wrote {count} compensating event(s) for {args.branch} to {out}"]
        lines += [f"cannot be expressed: {u}" for u in comp.unresolved]
        print(_dump(msg) if args.json else "\n".join(lines))
        return EXIT_OK
    report = export_with_report(session, args.branch, out, args.out_format)
    msg = {**report.to_json(), "report": str(report_path(out))}
    print(_dump(msg) if args.json else f"{report.counts_line()}; report in {report_path(out)}")
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    from models.generator import generate

    summary = generate(
        Path(args.out), events=args.events, seed=args.seed, fmt=args.gen_format, gzip=args.gzip
    )
    print(f"wrote {summary.events:,} events ({summary.streams:,} streams) to {args.out}")
    return EXIT_OK


def _json_arg(text: str, name: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{name} is not valid JSON: {exc}") from None


def _short(value: Any, limit: int = 80) -> str:
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "inspect": cmd_inspect,
    "state": cmd_state,
    "query": cmd_query,
    "branch": cmd_branch,
    "diff": cmd_diff,
    "export": cmd_export,
    "generate": cmd_generate,
}


def _fail(code: int, message: str) -> NoReturn:
    print(f"rewind: {message}", file=sys.stderr)
    sys.exit(code)


def run_headless(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    try:
        return HANDLERS[args.command](args)
    except UsageError as exc:
        _fail(EXIT_USAGE, str(exc))
    except InputError as exc:
        print(f"rewind: {exc}", file=sys.stderr)
        _print_problems(exc.problems)
        return EXIT_INPUT
    except ProjectionError as exc:
        print(f"rewind: {exc}\n{exc.traceback_text}", file=sys.stderr, end="")
        return EXIT_INPUT
    except BrokenPipeError:  # `main.py state LOG | head`
        return EXIT_OK


def has_display() -> bool:
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: Sequence[str], gui: Callable[[list[str]], int] | None = None) -> int:
    """Headless commands here; the window through ``gui`` (views.gui.run_gui, passed in by
    main.py because the application layer never imports the views)."""
    if argv and argv[0] in (*COMMANDS, "-h", "--help"):
        return run_headless(argv)
    if not has_display():
        print(
            "rewind: no display: the window needs X11 or Wayland (DISPLAY / WAYLAND_DISPLAY are "
            "not set).\n"
            "  On a server, run it under a virtual screen: xvfb-run -a python3 dev.py run\n"
            "  or use the headless commands: python3 dev.py run inspect LOG  (see --help)",
            file=sys.stderr,
        )
        return 1
    if gui is None:
        print("rewind: this build has no window; use the headless commands", file=sys.stderr)
        return EXIT_USAGE
    return gui(list(argv))
