"""The textbook faust-streaming peer of `make bench` (streams/devtools/bench/peers/ starts it): one
agent counting events per key in a 60 s tumbling table (in memory, kept 360 s: window + grace), the
table's changelog topic its only output, at-least-once.

Run by path with ``python -P`` (peers/commands.py does): as ``-m streams.devtools.bench.peer_faust`` it would
import the whole bench package first, this repository's own Faust app among it, and that memory and
start-up would count as the peer's. Imports nothing of this repository for the same reason.
"""

from __future__ import annotations

import argparse

import faust


def make_app(
    bootstrap: str, app_id: str, input_topic: str, partitions: int, commit_interval: float, data_dir: str
) -> faust.App:
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        broker_commit_interval=commit_interval,
        consumer_auto_offset_reset="earliest",
        topic_partitions=partitions,
        web_enabled=False,
        datadir=data_dir,
    )
    events = app.topic(input_topic, value_serializer="json")
    counts = app.Table("counts", default=int).tumbling(60, expires=360)

    @app.agent(events)
    async def count_events(stream):
        async for key, _value in stream.items():
            counts[key] += 1

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--partitions", type=int, default=8, help="of the input topic, and so of the table")
    parser.add_argument("--commit-interval", type=float, required=True, help="seconds")
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args(argv)
    app = make_app(args.bootstrap, args.app_id, args.input, args.partitions, args.commit_interval, args.data_dir)
    faust.Worker(app, loglevel="info").execute_from_commandline()  # until SIGTERM


if __name__ == "__main__":
    main()
