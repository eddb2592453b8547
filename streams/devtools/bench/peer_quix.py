"""The Quix Streams peer of `make bench` (streams/devtools/bench/peers/ starts it): events per key in
60 s tumbling windows with 300 s grace, counted in Quix's RocksDB state, the closed windows
(``.final()``, or every update with ``--emit current``) to an output topic.

Run by path with ``python -P`` (peers/commands.py does): as ``-m streams.devtools.bench.peer_quix`` it would
import the whole bench package first, and its memory and start-up would count as Quix's. Imports
nothing of this repository for the same reason.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from quixstreams import Application


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--guarantee", choices=("at-least-once", "exactly-once"), required=True)
    parser.add_argument("--commit-interval", type=float, required=True, help="seconds")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--emit", choices=("final", "current"), default="final")
    args = parser.parse_args(argv)

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        commit_interval=args.commit_interval,
        processing_guarantee=args.guarantee,
        state_dir=args.state_dir,
    )
    events = app.dataframe(app.topic(args.input, value_deserializer="json"))
    window = events.tumbling_window(timedelta(seconds=60), grace_ms=timedelta(seconds=300)).count()
    counts = window.final() if args.emit == "final" else window.current()
    counts.to_topic(app.topic(args.output, value_serializer="json"))
    app.run()  # until SIGTERM


if __name__ == "__main__":
    main()
