"""Kafka's own command-line clients, from the jars the embedded broker uses: input sent by a producer
nobody here wrote (the Java client, its batching and its codecs), for the tests of what real
producers send."""

from __future__ import annotations

import subprocess

from .broker import LOG4J_CONFIG, ensure_jars
from .processes import die_with_parent

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


def console_produce(
    bootstrap: str,
    topic: str,
    lines: list[tuple[bytes, bytes]],
    codec: str = "none",
    timeout: float = 120.0,
    partitioner: str | None = None,
) -> None:
    """Send (key, value) lines with ``kafka-console-producer`` (org.apache.kafka.tools.ConsoleProducer),
    its record batches compressed with ``codec``; ``partitioner``: a Java partitioner class instead of
    the key's murmur2 (as producers of other clients place keys elsewhere). Neither key nor value may
    hold a tab or a newline; the producer reads text, so a value's bytes must be UTF-8."""
    if codec not in CODECS:
        raise ValueError(f"codec {codec!r}: one of {CODECS}")
    if any(b"\t" in key or b"\n" in key + value for key, value in lines):
        raise ValueError("a key or value holds a tab or a newline, which the console producer splits on")
    cmd = [
        "java",
        "-Xmx256m",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "-cp",
        f"{ensure_jars()}/*",
        "org.apache.kafka.tools.ConsoleProducer",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--compression-codec",
        codec,
        "--property",
        "parse.key=true",
        "--producer-property",
        "enable.idempotence=true",
    ]
    if partitioner:
        cmd += ["--producer-property", f"partitioner.class={partitioner}"]
    stdin = b"".join(key + b"\t" + value + b"\n" for key, value in lines)
    result = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, preexec_fn=die_with_parent)
    if result.returncode != 0:
        raise RuntimeError(
            f"console producer ({codec}) exited {result.returncode}: {result.stderr.decode(errors='replace')[-2000:]}"
        )
