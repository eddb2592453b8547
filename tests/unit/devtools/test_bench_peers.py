"""The bench peers' pure helpers: when a run is done, the CPU of a process tree, the Kafka Streams
build's cache key and the command lines (the peers themselves run in `make bench`, never here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from streams.devtools.bench.harness import stat_fields
from streams.devtools.bench.offsets import committed_messages, is_complete
from streams.devtools.bench.peers import PEERS
from streams.devtools.bench.peers.commands import PEER_FAUST, PEER_QUIX, PeerRun, peer_command, what
from streams.devtools.bench.peers.kafka_streams import (
    MAIN_CLASS,
    SOURCES,
    build_dir,
    java_command,
    pom_property,
    source_files,
    sources_digest,
)
from streams.devtools.bench.peers.proctree import cpu_ticks, descendants, tree_cpu_seconds
from streams.devtools.bench.peers.run import timeout_seconds
from streams.devtools.broker import KAFKA_VERSION, POM


def test_complete_only_when_every_partition_reached_its_end():
    ends = {0: 10, 1: 5, 2: 0}
    assert is_complete({0: 10, 1: 5}, ends)  # the empty partition needs no commit
    assert not is_complete({0: 10, 1: 4}, ends)
    assert not is_complete({0: 10}, ends)  # partition 1 not committed at all
    assert not is_complete({}, ends)
    assert is_complete({}, {0: 0, 1: 0})


def test_committed_messages_count_each_partition_up_to_its_end():
    ends = {0: 10, 1: 5, 2: 7}
    assert committed_messages({0: 4, 1: 5}, ends) == 9
    assert committed_messages({0: 12, 1: 5, 2: 7}, ends) == 22  # never more than the topic holds
    assert committed_messages({3: 100}, ends) == 0  # a partition not of the input


def test_timeout_grows_with_the_events():
    assert timeout_seconds(0) == 60
    assert timeout_seconds(1_000_000) == 560


STAT = "4242 (java (main) x) S 4200 4242 4242 0 -1 4194560 9 0 0 0 150 30 7 3 20 0 2 0 1234 0 0"


def test_stat_fields_survive_a_command_name_with_spaces_and_parentheses():
    fields = stat_fields(STAT)
    assert fields[0] == "S" and fields[1] == "4200"
    assert cpu_ticks(STAT) == 150 + 30 + 7 + 3  # its own time and that of the children it waited for


def test_descendants_of_a_process():
    parent_of = {2: 1, 3: 2, 4: 3, 5: 1, 6: 99}
    assert descendants(parent_of, 2) == {3, 4}
    assert descendants(parent_of, 1) == {2, 3, 4, 5}
    assert descendants(parent_of, 4) == set()


def test_tree_cpu_of_this_process_counts_its_own_time():
    assert tree_cpu_seconds(os.getpid()) >= sum(os.times()[:2]) - 0.05
    assert tree_cpu_seconds(2**22 + 12345) is None  # above the kernel's pid limit: no such process


def test_the_kafka_streams_app_uses_the_brokers_kafka_version():
    pom = (SOURCES / "pom.xml").read_text()
    assert pom_property(pom, "kafka.version") == KAFKA_VERSION == pom_property(POM.read_text(), "kafka.version")
    assert "<artifactId>kafka-streams</artifactId>" in pom and "<artifactId>jackson-databind</artifactId>" in pom
    with pytest.raises(ValueError):
        pom_property(pom, "no.such.property")


def test_the_build_is_keyed_by_its_sources(tmp_path):
    sources = tmp_path / "app"
    (sources / "src" / "main" / "java").mkdir(parents=True)
    (sources / "pom.xml").write_text("<project/>")
    java = sources / "src" / "main" / "java" / "A.java"
    java.write_text("class A {}")
    (sources / "target").mkdir()
    (sources / "target" / "left-by-mvn-package.jar").write_text("x")
    assert source_files(sources) == [sources / "pom.xml", java]
    before = sources_digest(sources)
    assert build_dir(sources, tmp_path / "cache") == tmp_path / "cache" / f"bench-kafka-streams-{before}"
    java.write_text("class A { int b; }")
    assert sources_digest(sources) != before
    assert SOURCES / "src" / "main" / "java" / (MAIN_CLASS.replace(".", "/") + ".java") in source_files()


def _run(peer: str) -> PeerRun:
    return PeerRun(
        peer=peer,
        bootstrap="127.0.0.1:9092",
        group="g1",
        input_topic="in",
        output_topic="out",
        partitions=8,
        commit_interval_s=0.5,
        state_dir=Path("/tmp/state"),
    )


def test_kafka_streams_command():
    build = Path("/cache/ks")
    cmd = peer_command(_run("kafka-streams-unparsed"), build)
    assert cmd == [
        "java",
        "-Xmx1g",
        "-cp",
        "/cache/ks/classes:/cache/ks/lib/*",
        MAIN_CLASS,
        "unparsed",
        "127.0.0.1:9092",
        "g1",
        "in",
        "out",
        "500",
        "/tmp/state",
    ]
    assert peer_command(_run("kafka-streams-parsed"), build)[5] == "parsed"
    with pytest.raises(ValueError):
        peer_command(_run("kafka-streams-parsed"))  # not built
    with pytest.raises(ValueError):
        java_command(build, "half-parsed", "b", "g", "i", "o", 0.5, Path("/s"))


def test_python_peers_commands():
    quix = peer_command(_run("quix-exactly-once"), python="py")
    assert quix[:3] == ["py", "-P", str(PEER_QUIX)]
    assert quix[quix.index("--guarantee") + 1] == "exactly-once"
    assert quix[quix.index("--group") + 1] == "g1" and quix[quix.index("--commit-interval") + 1] == "0.5"
    assert peer_command(_run("quix-at-least-once"), python="py")[quix.index("--guarantee") + 1] == "at-least-once"
    faust = peer_command(_run("faust-agent"), python="py")
    assert faust[:3] == ["py", "-P", str(PEER_FAUST)]
    assert faust[faust.index("--app-id") + 1] == "g1" and faust[faust.index("--partitions") + 1] == "8"
    assert PEER_QUIX.exists() and PEER_FAUST.exists()
    assert peer_command(_run("faust-agent"))[0] == sys.executable


def test_every_peer_has_a_command_and_a_description():
    assert PEERS == (
        "kafka-streams-parsed",
        "kafka-streams-unparsed",
        "quix-at-least-once",
        "quix-exactly-once",
        "faust-agent",
    )
    for peer in PEERS:
        assert peer_command(_run(peer), Path("/cache/ks"))
        assert "\n" not in what(peer) and what(peer)
    with pytest.raises(ValueError):
        peer_command(_run("flink"))
    with pytest.raises(ValueError):
        what("flink")
