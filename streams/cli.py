"""`engagement`: the console script. Sub-commands: worker, simulate, top, settings (the service, its
traffic and a live view of it), and broker, run, bench (the dev tooling in ``streams.devtools``, left
out of the worker image and the wheel).

simulate, top, run and bench keep their own parsers: this one names them and hands them the rest of
the command line. The worker's own options are parsed here; the others go on to Faust's worker."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

from .settings import LOG_LEVELS, Settings, SettingsError, markdown_table

DISTRIBUTION = "engagement-streams"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not args.passes_on:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return args.handler(args, rest) or 0
    except SettingsError as exc:  # a setting it cannot start with: one line, no traceback
        print(f"engagement {args.command}: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="engagement",
        description="Real-time, exact engagement metrics "
        "from Kafka interaction events. `engagement COMMAND --help` tells more.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, description: str, handler, passes_on: bool = False, **kw) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=description, description=description, **kw)
        sub.set_defaults(handler=handler, passes_on=passes_on)
        return sub

    def own_parser(name: str, description: str, handler) -> None:
        """A command whose own parser has its options and answers its --help."""
        command(name, description, handler, passes_on=True, add_help=False)

    worker = command(
        "worker",
        "Run one worker (the Faust app streams.api.app:app) on KAFKA_BOOTSTRAP_SERVERS; "
        "it creates the service's topics when they are missing.",
        _worker,
        passes_on=True,
        allow_abbrev=False,
        epilog="Any other option goes on to Faust's worker command, e.g. --web-port.",
    )
    worker.add_argument("--log-level", choices=LOG_LEVELS, help="default: ENGAGEMENT_LOG_LEVEL")
    own_parser("simulate", "Produce synthetic posts and interaction events into Kafka.", _simulate)
    own_parser("top", "A live terminal view of the running service.", _top)
    settings = command(
        "settings",
        "Print the effective settings (secrets masked): the ENGAGEMENT_* "
        "environment and KAFKA_BOOTSTRAP_SERVERS, defaults filled in.",
        _settings,
    )
    settings.add_argument(
        "--markdown",
        action="store_true",
        help="the table of every setting, its default and what it takes (the README's)",
    )
    broker = command("broker", "Run the embedded Apache Kafka broker in the foreground.", _broker)
    broker.add_argument("--port", type=int, help="listener port (default: 9092 when free, else a free one)")
    broker.add_argument("--data-dir", help="data directory kept between runs (default: a temporary one)")
    own_parser("run", "The live service on embedded defaults: broker, worker, simulator, monitoring (make run).", _run)
    own_parser(
        "bench", "Throughput, freshness and memory of the pipeline next to peer stream processors (make bench).", _bench
    )
    return parser


def _version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # a checkout on sys.path, never installed
        return "(not installed)"


def _broker(args, rest: list[str]) -> int:
    return _devtool("broker").serve(args.port, args.data_dir)


def _worker(args, rest: list[str]) -> int:
    from .process_tuning import tune_the_process

    tune_the_process()

    from faust.cli.faust import cli

    from .api.standby import topics_once_reachable
    from .kafka.security import SecurityConfigError, kafka_client_config
    from .kafka.topics import TopicMismatch

    settings = Settings.from_env()
    if not settings.kafka_bootstrap_servers:
        print(
            "KAFKA_BOOTSTRAP_SERVERS is not set: start a broker (engagement broker) or use `make run`", file=sys.stderr
        )
        return 2
    try:
        # Before Faust starts: it would create a missing topic itself, without our configs. Waits for
        # a cluster not up yet.
        asyncio.run(topics_once_reachable(settings, kafka_client_config(settings)))
    except (SecurityConfigError, TopicMismatch) as exc:  # the message, no traceback
        print(f"engagement worker: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    level = args.log_level or settings.log_level
    return (
        cli.main(
            args=["-A", "streams.api.app:app", "worker", "-l", level, *rest],
            prog_name="engagement worker",
            standalone_mode=False,
        )
        or 0
    )


def _simulate(args, rest: list[str]) -> int:
    from .simulator import main as simulate_main

    return simulate_main(rest)


def _top(args, rest: list[str]) -> int:
    from .top import main as top_main

    return top_main(rest)


def _run(args, rest: list[str]) -> int:
    return _devtool("local_stack").main(rest)


def _bench(args, rest: list[str]) -> int:
    return _devtool("bench").main(rest)


def _devtool(name: str):
    """A dev-tooling module; the worker image and the wheel leave the dev tooling out."""
    try:
        return importlib.import_module(f"streams.devtools.{name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("streams.devtools"):
            sys.exit(f"engagement: {exc.name} is dev tooling, not installed here (use a checkout: make run)")
        raise


def _settings(args, rest: list[str]) -> int:
    if args.markdown:
        print(markdown_table())
    else:
        print("\n".join(f"{name}={value}" for name, value in Settings.from_env().shown_env().items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
