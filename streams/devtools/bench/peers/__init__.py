"""Peer stream processors for `make bench`: the same pre-filled input topic counted per key in 60 s
tumbling windows (300 s grace) by textbook applications of other systems, each its own OS process on
a fresh consumer group, timed from spawn until the group's committed offsets reach the topic's end.

    kafka-streams-parsed     Kafka Streams (the broker's version), values parsed as JSON by Jackson
    kafka-streams-unparsed   the same topology on the values' bytes
    quix-at-least-once       Quix Streams, tumbling_window(...).count().final()
    quix-exactly-once        the same, processing_guarantee="exactly-once"
    faust-agent              a faust-streaming agent incrementing a tumbling table

Modules: commands (the peers, their command lines), kafka_streams (the Java app's build), proctree
(CPU of a process tree), run (run_peer); ../offsets (committed against end offsets) is shared with
the pipeline runs, which end the same way. The applications
themselves: deploy/bench/kafka-streams/, streams/devtools/bench/peer_quix.py and peer_faust.py.
"""

from __future__ import annotations

import importlib.util

from ..harness import Bench, log
from .commands import PEERS
from .kafka_streams import build_dir, ensure_built
from .run import run_peer

__all__ = ["PEERS", "build_peers", "run_peer"]


def build_peers(bench: Bench | None = None) -> None:
    """Builds the Kafka Streams app unless its cache has this version of the sources, and checks that
    the Python peers' packages are installed (`pip install -e '.[bench]'`)."""
    missing = [name for name in ("quixstreams", "faust") if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(f"peers need {', '.join(missing)}: pip install -e '.[bench]'")
    if not (build_dir() / "classes").exists():
        log(f"building the Kafka Streams peer into {build_dir()}")
    ensure_built()
