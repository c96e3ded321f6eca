"""The ``cm-frames`` command line.

    cm-frames emulator --port 8765 --customers 5000 --seed 1 [--db PATH] [--token T --secret S]
    cm-frames demo [--customers 5000] [--output demo-output] [--seed 1]

Each subcommand is a ``configure_<name>(subparsers)`` that registers its parser and sets
``handler`` to a function of the parsed arguments returning the exit status.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import threading
from collections.abc import Callable

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


def _run_emulator(args: argparse.Namespace) -> int:
    from cm_frames.emulator import Emulator

    emulator = Emulator(
        customers=args.customers,
        seed=args.seed,
        db=args.db,
        token=args.token,
        secret=args.secret,
        host=args.host,
        port=args.port,
    )
    with emulator:
        print(f"ChartMogul Enrichment API emulator at {emulator.url}", flush=True)
        print("# credentials for cm_frames.Client() (paste into your shell):")
        print(f"export CHARTMOGUL_API_URL={shlex.quote(emulator.url)}")
        print(f"export CHARTMOGUL_ACCOUNT_TOKEN={shlex.quote(emulator.token)}")
        print(f"export CHARTMOGUL_SECRET_KEY={shlex.quote(emulator.secret)}")
        print("Press Ctrl-C to stop.", flush=True)
        try:
            _wait_for_interrupt()
        except KeyboardInterrupt:
            print("\nstopped", flush=True)
    return 0


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C (SIGINT) or SIGTERM, both raised here as KeyboardInterrupt."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        threading.Event().wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def configure_emulator(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
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
    parser.set_defaults(handler=_run_emulator)


def _run_demo(args: argparse.Namespace) -> int:
    from cm_frames.demo import main as demo_main

    return demo_main(args.customers, args.output, args.seed)


def configure_demo(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole job against a bundled emulator (load, segment, plot, write back, undo)",
        description="Start a local emulator, load every customer, segment and plot them, "
        "write scores back (dry run, apply, verify) and undo it. Nothing leaves this machine.",
    )
    parser.add_argument("--customers", type=int, default=5000, help="customers to generate")
    parser.add_argument("--output", default="demo-output", help="folder for the plots")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated data")
    parser.set_defaults(handler=_run_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cm-frames",
        description="ChartMogul Enrichment API customers as pandas DataFrames.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    configure_emulator(subparsers)
    configure_demo(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
