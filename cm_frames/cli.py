"""The ``cm-frames`` command line.

    cm-frames --version
    cm-frames emulator --port 8765 --customers 5000 --seed 1 [--db PATH] [--token T --secret S]
    cm-frames demo [--customers 5000] [--output demo-output] [--seed 1] [--dialect enrichment]
    cm-frames load [--email E] [--refresh] --to customers.parquet   (or --to folder/)
    cm-frames apply plan.json [--dry-run] [--journal PATH]
    cm-frames sync scores.csv --on external_id --set lead_score=score [--tag hot=is_hot]
                   [--missing keep|remove] [--others keep|remove] [--dry-run] [--journal DIR]
    cm-frames cache [--clear [--journals]]

Each subcommand is a ``configure_<name>(subparsers)`` that registers its parser and sets
``handler`` to a function of the parsed arguments returning the exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from cm_frames.api.client import Client
    from cm_frames.writeback.plan import Plan

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: …)" after an option's help, except where there is nothing to show.

    argparse's own would print "(default: None)" and "(default: False)" for the options
    without a value by default and for flags, which says nothing.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or "(default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _subcommand(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], name: str, **kwargs: Any
) -> argparse.ArgumentParser:
    return subparsers.add_parser(name, formatter_class=_HelpFormatter, **kwargs)


def _run_emulator(args: argparse.Namespace) -> int:
    try:
        return _emulator(args)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        return _fail(
            "emulator",
            CommandFailed(
                f"port {args.port} on {args.host} is in use (another emulator, or another "
                f"program, listens there); choose another --port, such as --port "
                f"{args.port + 1 if 0 < args.port < 65535 else 8766}, or --port 0 for any free one"
            ),
        )


def _emulator(args: argparse.Namespace) -> int:
    from cm_frames.emulator import Emulator

    current = args.dialect == "current"
    if current and (args.token is not None or args.secret is not None):
        return _fail(
            "emulator", CommandFailed("--dialect current takes --api-key, not --token/--secret")
        )
    if not current and args.api_key is not None:
        return _fail("emulator", CommandFailed("--api-key is for --dialect current"))
    common = {"customers": args.customers, "seed": args.seed, "db": args.db}
    if current:
        emulator = Emulator(
            **common, host=args.host, port=args.port, dialect="current", api_key=args.api_key
        )
    else:
        emulator = Emulator(
            **common, host=args.host, port=args.port, token=args.token, secret=args.secret
        )
    # Before the banner: a SIGTERM sent as soon as it is read stops the server cleanly too.
    with _sigterm_as_interrupt(), emulator:
        what = "today's ChartMogul API" if current else "ChartMogul Enrichment API"
        print(f"{what} emulator at {emulator.url}", flush=True)
        print("# credentials for cm_frames.Client() (paste into your shell):")
        print(f"export CHARTMOGUL_API_URL={shlex.quote(emulator.url)}")
        if current:
            print(f"export CHARTMOGUL_API_KEY={shlex.quote(emulator.api_key)}")
        else:
            print(f"export CHARTMOGUL_ACCOUNT_TOKEN={shlex.quote(emulator.token)}")
            print(f"export CHARTMOGUL_SECRET_KEY={shlex.quote(emulator.secret)}")
        print("Press Ctrl-C to stop.", flush=True)
        try:
            _wait_for_interrupt()
        except KeyboardInterrupt:
            print("\nstopped", flush=True)
    return 0


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the main thread, as Ctrl-C (SIGINT) does."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _wait_for_interrupt() -> None:
    """Block until a KeyboardInterrupt (Ctrl-C, or SIGTERM under ``_sigterm_as_interrupt``).

    In short sleeps, not one wait on a lock: Python runs a signal's handler only when the
    main thread runs bytecode, and a signal that lands after its last check but before the
    thread blocks on the lock interrupts nothing, so that wait would never end.
    """
    while True:
        time.sleep(0.2)


def configure_emulator(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(
        subparsers,
        "emulator",
        help="serve a local ChartMogul Enrichment API with generated customers",
        description="Serve a local ChartMogul Enrichment API (the 11 endpoints under /v1/) "
        "with deterministic generated customers, until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--customers", type=int, default=5000, help="customers to generate")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated data")
    parser.add_argument(
        "--db", default=None, help="SQLite file for the state (kept across restarts)"
    )
    parser.add_argument("--token", default=None, help="account token (default: emulator-token)")
    parser.add_argument("--secret", default=None, help="secret key (default: random)")
    parser.add_argument(
        "--dialect",
        choices=("enrichment", "current"),
        default="enrichment",
        help="reference: the API as first documented (token + secret, page numbers); "
        "current: the service as it is today (an API key, cursor paging, uuids)",
    )
    parser.add_argument(
        "--api-key", default=None, help="--dialect current: the API key (default: random)"
    )
    parser.set_defaults(handler=_run_emulator)


def _run_demo(args: argparse.Namespace) -> int:
    from cm_frames.demo import main as demo_main

    return demo_main(args.customers, args.output, args.seed, args.dialect)


def configure_demo(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(
        subparsers,
        "demo",
        help="run the whole job against a bundled emulator (load, segment, plot, write back, undo)",
        description="Start a local emulator, load every customer, segment and plot them, "
        "write scores back (dry run, apply, verify) and undo it. Nothing leaves this machine.",
    )
    parser.add_argument("--customers", type=int, default=5000, help="customers to generate")
    parser.add_argument("--output", default="demo-output", help="folder for the plots")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated data")
    parser.add_argument(
        "--dialect",
        choices=("current", "enrichment"),
        default="current",
        help="the API the emulator speaks: today's (default) or the reference's",
    )
    parser.set_defaults(handler=_run_demo)


# --- load and apply: the account's credentials come from the environment -------------------

_CREDENTIALS_HELP = (
    "Credentials come from the environment: CHARTMOGUL_API_KEY (ChartMogul: Profile > API "
    "keys), or for the reference's API CHARTMOGUL_ACCOUNT_TOKEN and CHARTMOGUL_SECRET_KEY; "
    "CHARTMOGUL_API_URL overrides the API's base URL (e.g. the one `cm-frames emulator` "
    "prints)."
)


class CommandFailed(Exception):
    """An expected failure of a subcommand: reported as one line, no traceback."""


def _expected_errors() -> tuple[type[BaseException], ...]:
    # ValueError covers bad JSON and bad values; OSError unreadable or unwritable files.
    from cm_frames.errors import ChartMogulError

    return (ChartMogulError, CommandFailed, OSError, ValueError)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def _fail(command: str, error: BaseException) -> int:
    print(f"cm-frames {command}: error: {_one_line(error)}", file=sys.stderr, flush=True)
    return 1


def _client() -> Client:
    from cm_frames.api.client import Client
    from cm_frames.errors import MissingCredentials

    try:
        return Client()
    except MissingCredentials:
        # The client's own message shows Python (cm.Client(api_key=...)); here it is the shell.
        raise CommandFailed(
            "no ChartMogul credentials: export CHARTMOGUL_API_KEY (ChartMogul: Profile > API "
            "keys), or for the reference's API CHARTMOGUL_ACCOUNT_TOKEN and "
            "CHARTMOGUL_SECRET_KEY; for another API than https://api.chartmogul.com/v1/, such "
            "as the local emulator, CHARTMOGUL_API_URL too: `cm-frames emulator` prints the "
            "export lines to paste"
        ) from None


def _show_progress() -> bool:
    """A progress bar only for a person watching: never in a pipe, a log or a test."""
    return sys.stderr.isatty()


def _run_load(args: argparse.Namespace) -> int:
    try:
        return _load(args.to, email=args.email, refresh=args.refresh)
    except _expected_errors() as error:
        return _fail("load", error)


def _load(to: str, *, email: str | None, refresh: bool) -> int:
    from cm_frames.read.load import read_customers

    target = Path(to)
    single_file = _load_target_is_a_file(to, target)
    if email is not None and not single_file:
        raise CommandFailed(
            f"--email writes a single file, but --to {to} is a dataset folder: "
            "give a path ending in .parquet"
        )
    with _client() as client:
        if single_file:
            frame = read_customers(client, email=email, refresh=refresh, progress=_show_progress())
            _write_parquet_file(frame, target)
            rows, columns = frame.shape
        else:
            read_customers(client, to=target, refresh=refresh, progress=_show_progress())
            rows, columns = _dataset_shape(target)
    who = f"customers with email {email}" if email is not None else "customers"
    print(f"wrote {rows:,} {who} × {columns} columns to {target} ({_size(target)})")
    return 0


def _load_target_is_a_file(to: str, target: Path) -> bool:
    """True for a .parquet file, False for a dataset folder; anything else is refused.

    A suffix that is not .parquet (customers.csv) is a mistake far more often than a folder
    name, and taken for a folder it would become a directory of Parquet files with that name.
    """
    if target.suffix.lower() == ".parquet":
        return True
    if not target.suffix or to.endswith(("/", os.sep)):
        return False
    raise CommandFailed(
        f"--to {to}: unknown suffix {target.suffix}; load writes Parquet only: give a path "
        f"ending in .parquet for one file (such as {target.with_suffix('.parquet')}), or a "
        "folder for a Parquet dataset: a path without a suffix, or any path ending in / "
        f"(such as {to}/)"
    )


def _write_parquet_file(frame: pd.DataFrame, target: Path) -> None:
    """One Parquet file of the frame, replaced atomically.

    ``cm.read_parquet`` reads it back exactly; plain ``pd.read_parquet`` with its index.
    """
    import pyarrow.parquet as pq

    from cm_frames.read.frames import frame_to_table
    from cm_frames.read.table import pandas_metadata

    table = frame_to_table(frame)
    # pandas' own metadata too, so plain pd.read_parquet keeps the id index and the dtypes.
    metadata = {**(table.schema.metadata or {}), **pandas_metadata(table.schema)}
    table = table.replace_schema_metadata(metadata)
    partial = target.with_name(f".{target.name}.partial")
    try:
        pq.write_table(table, partial)
        # A reader never sees half a file, and a failed write leaves the old file in place.
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _dataset_shape(directory: Path) -> tuple[int, int]:
    import pyarrow.dataset as pads

    dataset = pads.dataset(directory, format="parquet")
    # The dataset's first column is the index, id; the frame has the others.
    return dataset.count_rows(), len(dataset.schema) - 1


def _size(path: Path) -> str:
    return _size_of([path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()])


def configure_load(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(
        subparsers,
        "load",
        help="write the account's customers to Parquet",
        description="Load every customer of the account (or those with --email) and write them "
        "to Parquet: one file when --to ends with .parquet (read it back with "
        "cm_frames.read_parquet), a dataset folder streamed with bounded memory when it has "
        "no suffix or ends with /; any other suffix is refused. " + _CREDENTIALS_HELP,
    )
    parser.add_argument(
        "--to",
        required=True,
        metavar="PATH",
        help="a .parquet file, or a dataset folder (no suffix, or ending in /)",
    )
    parser.add_argument(
        "--email", default=None, help="only the customers with this email (a .parquet file)"
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="ignore the local snapshot and HTTP cache: read everything from the server",
    )
    parser.set_defaults(handler=_run_load)


def _run_apply(args: argparse.Namespace) -> int:
    try:
        return _apply(args.plan, dry_run=args.dry_run, journal=args.journal)
    except _expected_errors() as error:
        return _fail("apply", error)


def _apply(plan_file: str, *, dry_run: bool, journal: str | None) -> int:
    # A dry run takes the real run's path up to its first request: the same plan file
    # checks, credentials, account check and journal check, then prints instead of sending.
    from cm_frames.writeback.apply import check_account

    plan = _read_plan(plan_file)
    print(f"plan {plan_file}:")
    print("\n".join(f"  {line}" for line in plan.summary().lines()))
    for skip in plan.skipped:
        count = len(skip.customer_ids)
        customers = f"{count} customer{'' if count == 1 else 's'}"
        print(f"  skipped {skip.column} ({customers}): {skip.reason}")
    if plan.is_empty:
        print("nothing to apply")
        if dry_run:
            print("dry run: nothing was sent")
        return 0
    with _client() as client:
        check_account(plan, client)
        if dry_run:
            _check_journal(plan, client, journal)
            _print_requests(plan)
            print("dry run: nothing was sent")
            return 0
        result = plan.apply(client, journal=journal, progress=_show_progress())
    print(result)
    return 0 if result.ok else 1


def _check_journal(plan: Plan, client: Client, journal: str | None) -> None:
    """Refuse, reading only, what ``Journal.open`` refuses before the real run's first request.

    A directory, a file that is not a journal, or the journal of another plan. A dry run
    writes nothing, so the journal is not opened (nor created) as the real run does.
    """
    from cm_frames.writeback.apply import plan_id
    from cm_frames.writeback.journal import read_journal

    own_id = plan_id(plan)
    path = (
        Path(journal) if journal is not None else client.cache_dir / "journals" / f"{own_id}.jsonl"
    )
    if path.is_dir():
        raise CommandFailed(f"journal {path} is a directory; pass --journal the path of a file")
    state = read_journal(path)  # a missing file reads as an empty journal
    if state.plan_id is not None and state.plan_id != own_id:
        raise CommandFailed(
            f"journal {path} belongs to another plan ({state.plan_id}), not this one "
            f"({own_id}); leave out --journal to use this plan's own journal, or give the "
            "journal this plan was applied with to resume it"
        )


_SHOWN_REQUESTS = 20


def _print_requests(plan: Plan) -> None:
    """The requests the plan would send, before the conflict check (which may send fewer)."""
    requests = plan.requests()
    customers = len({op.customer_id for op in plan.operations})
    print(
        f"would send {len(requests)} request{'' if len(requests) == 1 else 's'}, after "
        f"re-reading the {customers} customer{'' if customers == 1 else 's'} to check for "
        "conflicts (a value changed since the load, one already in place or one a journal "
        "shows done is not sent):"
    )
    for request in requests[:_SHOWN_REQUESTS]:
        body = json.dumps(request.body, separators=(",", ":"), ensure_ascii=False)
        if len(body) > 120:
            body = body[:119] + "…"
        print(f"  {request.method} {request.path} {body}")
    if len(requests) > _SHOWN_REQUESTS:
        print(f"  … and {len(requests) - _SHOWN_REQUESTS} more")


def _read_plan(plan_file: str) -> Plan:
    from cm_frames.writeback.plan import Plan

    try:
        text = Path(plan_file).read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise CommandFailed(f"cannot read the plan file {plan_file}: {reason}") from error
    try:
        return Plan.from_json(text)
    except ValueError as error:
        # Plan.from_json's ValidationError (a ValueError) says what is wrong; add where.
        raise CommandFailed(f"{plan_file}: {_one_line(error)}") from error


def configure_apply(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(
        subparsers,
        "apply",
        help="apply a write-back plan saved with plan.to_json()",
        description="Read a plan saved with plan.to_json(), print its summary and apply it: "
        "conflict-checked (nothing overwrites a change made since the load), journaled and "
        "resumable (run the same command again after a failure). Exits 0 when every "
        "operation was applied or already in place, 1 otherwise. " + _CREDENTIALS_HELP,
    )
    parser.add_argument("plan", metavar="PLAN.json", help="a file written by plan.to_json()")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="make every check of a real run (plan file, credentials, account, journal), "
        "then print the requests it would send; send nothing",
    )
    parser.add_argument(
        "--journal",
        default=None,
        metavar="PATH",
        help="journal file (default: beside the client's cache, named by the plan); "
        "the same journal resumes an interrupted apply",
    )
    parser.set_defaults(handler=_run_apply)


# --- sync: a table's scores, by key, written to the account (a scheduled job) ----------------


def _run_sync(args: argparse.Namespace) -> int:
    try:
        return _sync(
            args.table,
            on=args.on,
            sets=args.set or [],
            tags=args.tag or [],
            missing=args.missing,
            others=args.others,
            dry_run=args.dry_run,
            journal=args.journal,
        )
    except _expected_errors() as error:
        return _fail("sync", error)


def _sync(
    table_file: str,
    *,
    on: str,
    sets: list[str],
    tags: list[str],
    missing: str,
    others: str,
    dry_run: bool,
    journal: str | None,
) -> int:
    # The table is read and its columns checked before the account is: a typo costs no load.
    from cm_frames.read.load import read_customers
    from cm_frames.writeback.frame import plan_frame
    from cm_frames.writeback.update import update_from

    columns = _sync_columns(sets, tags)
    table = _read_table(table_file, on)
    missing_columns = [c for c in columns if c not in table.columns]
    if missing_columns:
        raise CommandFailed(
            f"{table_file} has no column {', '.join(map(repr, missing_columns))}; its columns "
            f"are {', '.join(map(repr, map(str, table.columns)))}"
        )
    with _client() as client:
        # Fresh: a scheduled job plans against what the account holds now, not a cached load.
        frame = read_customers(client, refresh=True, progress=_show_progress())
        edited = update_from(
            frame,
            table,
            on=on,
            columns=columns,
            missing=missing,  # type: ignore[arg-type]  # argparse choices
            others=others,  # type: ignore[arg-type]
        )
        # No RemovalWarning: a sync removes only what --missing/--others remove ask for, which
        # update_from records (the summary below leads with the removals).
        plan = plan_frame(edited)
        print(f"sync {table_file} ({len(table):,} rows, on {on}) into {len(frame):,} customers:")
        print("\n".join(f"  {line}" for line in plan.summary().lines()))
        if plan.is_empty:
            print("nothing to apply: the account already holds the table's values")
            if dry_run:
                print("dry run: nothing was sent")
            return 0
        journal_file = _sync_journal(plan, client, journal)
        if dry_run:
            _check_journal(plan, client, str(journal_file))
            _print_requests(plan)
            print("dry run: nothing was sent")
            return 0
        result = plan.apply(client, journal=journal_file, progress=_show_progress())
    print(result)
    return 0 if result.ok else 1


def _sync_columns(sets: list[str], tags: list[str]) -> dict[str, str]:
    """``--set ATTR=COLUMN`` and ``--tag TAG=COLUMN`` as update_from's table column -> target."""
    if not sets and not tags:
        raise CommandFailed(
            "nothing to write: give --set ATTRIBUTE=COLUMN (a custom attribute) or "
            "--tag TAG=COLUMN (a boolean column) at least once"
        )
    columns: dict[str, str] = {}
    for option, prefix, values in (("--set", "custom.", sets), ("--tag", "tag.", tags)):
        for value in values:
            name, equals, column = value.partition("=")
            if not equals or not name.strip() or not column.strip():
                raise CommandFailed(
                    f"{option} {value}: expected NAME=COLUMN, such as {option} "
                    + ("lead_score=score" if prefix == "custom." else "hot=is_hot")
                )
            name, column = name.strip(), column.strip()
            target = name if name.startswith(prefix) else prefix + name
            if column in columns:
                raise CommandFailed(
                    f"the column {column!r} is written twice ({columns[column]} and {target}): "
                    "a column goes to one attribute"
                )
            columns[column] = target
    return columns


def _read_table(table_file: str, on: str) -> pd.DataFrame:
    """A CSV or Parquet file of scores, typed by Arrow (nullable ints and bools: no floats)."""
    import pandas as pd

    path = Path(table_file)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise CommandFailed(
            f"{table_file}: unknown suffix {path.suffix or '(none)'}; sync reads a .csv or a "
            ".parquet file"
        )
    try:
        if suffix == ".csv":
            # Keys as written: an external_id of digits (or with leading zeros) is text.
            key_types = {} if on == "id" else {on: "string[pyarrow]"}
            return pd.read_csv(path, dtype=key_types, dtype_backend="pyarrow")
        return pd.read_parquet(path, dtype_backend="pyarrow")
    except FileNotFoundError:
        raise CommandFailed(f"cannot read {table_file}: no such file") from None
    except (OSError, ValueError) as error:
        raise CommandFailed(f"cannot read {table_file}: {_one_line(error)}") from error


def _sync_journal(plan: Plan, client: Client, journal: str | None) -> Path:
    """This plan's journal in the journals folder: a rerun of the same plan resumes it.

    A folder, not one file: each night's table makes another plan, and a journal belongs to
    one plan. After an interrupted sync, the rerun loads afresh, so its plan holds only what
    the account is still missing (and is the same plan, resuming its journal, when nothing
    had landed).
    """
    from cm_frames.writeback.apply import plan_id

    folder = Path(journal) if journal is not None else client.cache_dir / "journals"
    if folder.exists() and not folder.is_dir():
        raise CommandFailed(
            f"--journal {journal} is a file; sync keeps one journal per plan, so give it a "
            "folder (it is created if need be)"
        )
    return folder / f"{plan_id(plan)}.jsonl"


def configure_sync(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(
        subparsers,
        "sync",
        help="write a table's scores (CSV or Parquet) to the account's customers, by key",
        description="Load the account afresh, write the table's columns into the customers "
        "whose key matches (df.chartmogul.update_from), print the plan's summary (with the "
        "rows that matched no customer) and apply it: conflict-checked, journaled and "
        "resumable (run the same command again after a failure: it sends only what the "
        "account still lacks). Exits 0 when every operation was applied or already in place, "
        "1 otherwise. " + _CREDENTIALS_HELP,
    )
    parser.add_argument("table", metavar="FILE", help="a .csv or .parquet file, one row per key")
    parser.add_argument(
        "--on",
        required=True,
        choices=("external_id", "email", "uuid", "id"),
        help="the table's key column, matched to the customers' (an email: all who share it)",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="ATTR=COLUMN",
        help="write COLUMN into the custom attribute ATTR (repeatable)",
    )
    parser.add_argument(
        "--tag",
        action="append",
        metavar="TAG=BOOLCOLUMN",
        help="add TAG where the boolean COLUMN is true, remove it where false (repeatable)",
    )
    parser.add_argument(
        "--missing",
        choices=("keep", "remove"),
        default="keep",
        help="a blank in the table keeps the customer's value, or removes it",
    )
    parser.add_argument(
        "--others",
        choices=("keep", "remove"),
        default="keep",
        help="customers absent from the table keep their values, or lose the attributes "
        "(a mirror of the table)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="load, plan and check as a real run does, print the requests it would send; "
        "send nothing",
    )
    parser.add_argument(
        "--journal",
        default=None,
        metavar="DIR",
        help="folder of the journals, one per plan named by its id (default: beside the "
        "client's cache)",
    )
    parser.set_defaults(handler=_run_sync)


# --- cache: what is stored locally for the account, and clearing it ---------------------------


def _run_cache(args: argparse.Namespace) -> int:
    try:
        return _cache(clear=args.clear, journals=args.journals)
    except _expected_errors() as error:
        return _fail("cache", error)


def _cache(*, clear: bool, journals: bool) -> int:
    import shutil

    if journals and not clear:
        raise CommandFailed("--journals only goes with --clear (it clears the journals too)")
    with _client() as client:
        directory = client.cache_dir
        parts = {
            "HTTP cache": [client.cache_file] if client.cache_file else [],
            "snapshots": sorted((directory / "snapshots").glob("*.arrow")),
            "journals": sorted((directory / "journals").glob("*.jsonl")),
        }
        print(f"cache of account {client.account_hash} ({client.base_url}): {directory}")
        for name, files in parts.items():
            present = [f for f in files if f.is_file()]
            size = _size_of(present)
            print(f"  {name}: {len(present)} file{'' if len(present) == 1 else 's'}, {size}")
        if not clear:
            return 0
        client.cache_clear()
        shutil.rmtree(directory / "snapshots", ignore_errors=True)
        cleared = ["HTTP cache", "snapshots"]
        if journals:
            shutil.rmtree(directory / "journals", ignore_errors=True)
            cleared.append("journals")
        kept = "" if journals else " (journals kept: they resume an interrupted apply)"
        print(f"cleared: {', '.join(cleared)}{kept}")
    return 0


def _size_of(files: list[Path]) -> str:
    size = float(sum(f.stat().st_size for f in files))
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def configure_cache(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(
        subparsers,
        "cache",
        help="show (or clear) what is stored locally for the account",
        description="Show the account's local cache directory and what it holds: the HTTP "
        "cache, the snapshots of past loads and the apply journals. --clear empties the HTTP "
        "cache and deletes the snapshots; journals are kept unless --journals is given too. "
        + _CREDENTIALS_HELP,
    )
    parser.add_argument(
        "--clear", action="store_true", help="empty the HTTP cache and delete the snapshots"
    )
    parser.add_argument(
        "--journals", action="store_true", help="with --clear: delete the apply journals too"
    )
    parser.set_defaults(handler=_run_cache)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cm-frames",
        description="ChartMogul Enrichment API customers as pandas DataFrames.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {_version()}", help="print the version"
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    configure_emulator(subparsers)
    configure_demo(subparsers)
    configure_load(subparsers)
    configure_apply(subparsers)
    configure_sync(subparsers)
    configure_cache(subparsers)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cm_frames")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    """Run the ``cm-frames`` command line (its console script, and ``python -m cm_frames.cli``).

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program's name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The subcommand's exit status (0: success).

    Raises
    ------
    SystemExit
        From argparse: for ``--help``, ``--version`` and arguments it refuses (status 2).
    """
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
