"""`engagement`: the console script. Sub-commands: worker, simulate, top, settings (the service, its
traffic and a live view of it), and broker, run, bench (the dev tooling in ``streams.devtools``, left
out of the worker image)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"broker": _broker, "worker": _worker, "simulate": _simulate, "top": _top, "run": _run,
                "settings": _settings, "bench": _bench}
    if not argv or argv[0] not in commands:
        print(f"usage: engagement {{{','.join(commands)}}} [options]   (engagement COMMAND --help)",
              file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:]) or 0


def _broker(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="engagement broker",
                                     description="Run the embedded Apache Kafka broker in the foreground.")
    parser.add_argument("--port", type=int, help="listener port (default: 9092 when free, else a free one)")
    parser.add_argument("--data-dir", help="data directory kept between runs (default: a temporary one)")
    args = parser.parse_args(argv)
    return _devtool("broker").serve(args.port, args.data_dir)


def _worker(argv: list[str]) -> int:
    from .allocator import return_large_blocks_to_the_system
    from .collector import collect_less_often
    return_large_blocks_to_the_system()  # first: before the allocations it is about
    collect_less_often()

    from faust.cli.faust import cli

    from .kafka.security import kafka_client_config
    from .kafka.topics import ensure_topics
    from .settings import Settings
    if not Settings.from_env().kafka_bootstrap_servers:
        print("KAFKA_BOOTSTRAP_SERVERS is not set: start a broker (engagement broker) or use `make run`",
              file=sys.stderr)
        return 2
    settings = Settings.from_env()
    # Before Faust starts: it would create a missing topic itself, without our configs.
    asyncio.run(ensure_topics(settings, kafka_client_config(settings)))
    level = settings.log_level
    return cli.main(args=["-A", "streams.api.app:app", "worker", "-l", level, *argv],
                    prog_name="engagement worker", standalone_mode=False) or 0


def _simulate(argv: list[str]) -> int:
    from .simulator import main as simulate_main
    return simulate_main(argv)


def _top(argv: list[str]) -> int:
    from .top import main as top_main
    return top_main(argv)


def _run(argv: list[str]) -> int:
    return _devtool("local_stack").main(argv)


def _bench(argv: list[str]) -> int:
    return _devtool("bench").main(argv)


def _devtool(name: str):
    """A dev-tooling module; the worker image leaves the dev tooling out (.dockerignore)."""
    try:
        return importlib.import_module(f"streams.devtools.{name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("streams.devtools"):
            sys.exit(f"engagement: {exc.name} is dev tooling, not installed here (use a checkout: make run)")
        raise


def _settings(argv: list[str]) -> int:
    from .settings import markdown_table
    print(markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
