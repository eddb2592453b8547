"""The peers: their names, what each computes (one line, for the results), and the command line that
starts one on a given input topic, consumer group and output topic."""

from __future__ import annotations

import dataclasses
import sys
from importlib import metadata
from pathlib import Path

from ...broker import KAFKA_VERSION
from .kafka_streams import java_command

PEERS: tuple[str, ...] = (
    "kafka-streams-parsed",
    "kafka-streams-unparsed",
    "quix-at-least-once",
    "quix-exactly-once",
    "faust-agent",
)
KAFKA_STREAMS_VARIANTS = {"kafka-streams-parsed": "parsed", "kafka-streams-unparsed": "unparsed"}
QUIX_GUARANTEES = {"quix-at-least-once": "at-least-once", "quix-exactly-once": "exactly-once"}
BENCH_DIR = Path(__file__).resolve().parents[1]
PEER_QUIX = BENCH_DIR / "peer_quix.py"
PEER_FAUST = BENCH_DIR / "peer_faust.py"


@dataclasses.dataclass(frozen=True)
class PeerRun:
    """One run of one peer: where it reads, under which group (application id), where it writes."""

    peer: str
    bootstrap: str
    group: str
    input_topic: str
    output_topic: str
    partitions: int
    commit_interval_s: float
    state_dir: Path


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def what(peer: str) -> str:
    window = "60 s tumbling windows, 300 s grace"
    if peer in KAFKA_STREAMS_VARIANTS:
        values = (
            "values parsed as JSON (Jackson readTree, a field read)"
            if peer.endswith("-parsed")
            else "values left as bytes"
        )
        return (
            f"Kafka Streams {KAFKA_VERSION}, exactly_once_v2, 1 thread: count per key in {window}, {values}, "
            "RocksDB window store, every cached update to an output topic"
        )
    if peer in QUIX_GUARANTEES:
        return (
            f"Quix Streams {_version('quixstreams')}, {QUIX_GUARANTEES[peer]}: JSON values, count per key in "
            f"{window} (RocksDB state + changelog), .final(): closed windows only to an output topic"
        )
    if peer == "faust-agent":
        return (
            f"faust-streaming {_version('faust-streaming')} agent, at-least-once: JSON values, "
            f"table[key] += 1 per event in a {window} memory table, every update to its changelog topic"
        )
    raise ValueError(f"unknown peer {peer!r}: one of {', '.join(PEERS)}")


def peer_command(run: PeerRun, kafka_streams_build: Path | None = None, python: str = sys.executable) -> list[str]:
    if run.peer in KAFKA_STREAMS_VARIANTS:
        if kafka_streams_build is None:
            raise ValueError(f"{run.peer} needs the Kafka Streams build (build_peers)")
        return java_command(
            kafka_streams_build,
            KAFKA_STREAMS_VARIANTS[run.peer],
            run.bootstrap,
            run.group,
            run.input_topic,
            run.output_topic,
            run.commit_interval_s,
            run.state_dir,
        )
    # -P: the script's directory (the bench package, with its profile.py) stays off sys.path.
    if run.peer in QUIX_GUARANTEES:
        return [
            python,
            "-P",
            str(PEER_QUIX),
            "--bootstrap",
            run.bootstrap,
            "--group",
            run.group,
            "--input",
            run.input_topic,
            "--output",
            run.output_topic,
            "--guarantee",
            QUIX_GUARANTEES[run.peer],
            "--commit-interval",
            str(run.commit_interval_s),
            "--state-dir",
            str(run.state_dir),
        ]
    if run.peer == "faust-agent":
        return [
            python,
            "-P",
            str(PEER_FAUST),
            "--bootstrap",
            run.bootstrap,
            "--app-id",
            run.group,
            "--input",
            run.input_topic,
            "--partitions",
            str(run.partitions),
            "--commit-interval",
            str(run.commit_interval_s),
            "--data-dir",
            str(run.state_dir),
        ]
    raise ValueError(f"unknown peer {run.peer!r}: one of {', '.join(PEERS)}")
