"""The one settings object: every knob of the service, read from the environment (12-factor).

Each field is read from ``ENGAGEMENT_<FIELD NAME IN UPPER CASE>``; the one exception is the Kafka
address, read from the conventional ``KAFKA_BOOTSTRAP_SERVERS`` (unset: the embedded broker).
The README's settings table is generated from ``FIELDS`` (``engagement settings --markdown``).
"""

from __future__ import annotations

import dataclasses
import os
import socket
from dataclasses import dataclass, field
from typing import Mapping

PREFIX = "ENGAGEMENT_"
DEFAULT_ENGAGED_TYPES = ("like", "reaction", "comment", "share", "save", "click")


def _doc(text: str, secret: bool = False, **kw):
    return field(metadata={"doc": text, "secret": secret}, **kw)


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap_servers: str = _doc(
        "Kafka bootstrap servers (env `KAFKA_BOOTSTRAP_SERVERS`, no prefix). Empty: the project starts "
        "its embedded broker.",
        default="",
    )
    kafka_security_protocol: str = _doc(
        "How clients reach Kafka: PLAINTEXT, SASL_PLAINTEXT, SASL_SSL or SSL (README: Authenticated "
        "connections).", default="PLAINTEXT")
    kafka_sasl_mechanism: str = _doc("SASL mechanism for SASL_*: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN.",
                                     default="SCRAM-SHA-512")
    kafka_sasl_username: str = _doc("SASL user name (SASL_* only).", default="")
    kafka_sasl_password: str = _doc("SASL password (SASL_* only). Secret: never printed, not in repr().",
                                    default="", repr=False, secret=True)
    kafka_ssl_cafile: str = _doc("PEM file of the CA that signed the brokers' certificates (SSL, SASL_SSL; "
                                 "empty: the system's CAs).", default="")
    kafka_ssl_certfile: str = _doc("PEM client certificate for mutual TLS (SSL, SASL_SSL; empty: none).",
                                   default="")
    kafka_ssl_keyfile: str = _doc("PEM private key of the client certificate (empty: in the certfile).",
                                  default="")
    app_id: str = _doc("Faust app id; also the prefix of the consumer groups.", default="engagement")
    topic_interactions: str = _doc("Input topic of interaction events.", default="engagement.interactions")
    topic_accounts: str = _doc("Compacted topic of account reference records (key = account_id).",
                               default="engagement.accounts")
    topic_posts: str = _doc("Compacted topic of post reference records (key = post_id): account, platform, "
                            "publication time, content type. Records older than the post lifetime plus the "
                            "benchmark period are deleted.", default="engagement.posts")
    topic_post_lifetime: str = _doc("Output: per post, its aggregates from publication to each of the "
                                    "ENGAGEMENT_POST_LIFETIME_AGES_SECONDS (key = post_id).",
                                    default="engagement.post-lifetime")
    topic_post_metrics: str = _doc("Output: final per-post window records.", default="engagement.post-metrics")
    topic_account_metrics: str = _doc("Output: final per-account window records.",
                                      default="engagement.account-metrics")
    topic_dlq: str = _doc("Dead-letter topic: every rejected input with its reason.",
                          default="engagement.interactions.dlq")
    topic_state: str = _doc("Internal changelog of the engine's window and dedup state.",
                            default="engagement.engine-state")
    topic_mentions: str = _doc("Internal compacted topic of the mentions not answered yet (listening SLA).",
                               default="engagement.engine-mentions")
    topic_snapshots: str = _doc("Internal compacted topic of the engine's state snapshots (a restore reads the "
                                "latest snapshot, then the journal written after it).",
                                default="engagement.engine-snapshots")
    topic_partitions: int = _doc("Partitions of every topic the service creates.", default=8)
    topic_replication: int = _doc("Replication factor of the topics the service creates.", default=1)
    web_host: str = _doc("Interface of the worker's HTTP server (query API, /metrics).", default="127.0.0.1")
    web_port: int = _doc("Port of the worker's HTTP server.", default=6066)
    advertised_url: str = _doc("URL at which the other workers reach this worker's HTTP API. It also names "
                               "the worker's transactional producer and its static consumer group membership, "
                               "so it must be unique per worker and the same across its restarts. Empty: "
                               "http://WEB_HOST:WEB_PORT, with the host name for a WEB_HOST of 0.0.0.0.",
                               default="")
    window_seconds: int = _doc("Length of the tumbling windows (per post and per account).", default=60)
    rolling_window_seconds: int = _doc("Length of the rolling per-account window (step = window_seconds).",
                                       default=3600)
    window_grace_seconds: float = _doc("Grace for out-of-order events; a window closes at end + grace, "
                                       "by the wall clock.", default=300.0)
    dedup_horizon_seconds: float = _doc("Events with an event_id that arrived this recently count once.",
                                        default=900.0)
    snapshot_interval_seconds: float = _doc("How often each partition's whole state is written to the snapshot "
                                            "topic; a restore replays only the journal written since.",
                                            default=60.0)
    mention_acknowledge_sla_seconds: float = _doc(
        "Listening SLA: a mention not replied to within this long is past the acknowledge SLA (DOMAIN.md: "
        "12 h); EngagementMentionUnanswered warns.", default=43200.0)
    mention_resolve_sla_seconds: float = _doc(
        "Listening SLA: a mention not replied to within this long is past the resolve SLA (DOMAIN.md: 24 h); "
        "EngagementMentionUnanswered pages.", default=86400.0)
    mention_retention_seconds: float = _doc(
        "How long an unanswered mention is kept waiting for its reply; then it is dropped (counted in "
        "engagement_mentions_expired_total). Bounds the open-mention state.", default=259200.0)
    post_lifetime_seconds: float = _doc(
        "How long after its publication a post's engagement is aggregated (its lifetime record at this "
        "age is its last). Bounds the per-post state.", default=604800.0)
    post_lifetime_ages_seconds: tuple[str, ...] = _doc(
        "Comma-separated post ages (seconds) at which a lifetime record is published; the maturity and the "
        "lifetime are always among them.", default=("3600", "86400", "604800"))
    post_maturity_seconds: float = _doc(
        "The age at which a post's ER counts in its account's ER per post (DOMAIN.md: 24 h), compared "
        "with the benchmark band by EngagementRateBelowBenchmark.", default=86400.0)
    benchmark_period_seconds: float = _doc(
        "An account's ER per post is the mean over its posts published this recently (DOMAIN.md: 7 days) "
        "that have reached the maturity age.", default=604800.0)
    engaged_types: tuple[str, ...] = _doc("Comma-separated interaction types that count as engaged.",
                                          default=DEFAULT_ENGAGED_TYPES)
    max_message_bytes: int = _doc("Largest input message accepted; larger ones go to the DLQ (too_large).",
                                  default=1_048_576)
    max_batch_events: int = _doc("Most events in one input message (a JSON array); more: DLQ (too_large).",
                                 default=10_000)
    session_timeout_seconds: float = _doc("Consumer group session timeout: how long a dead worker keeps its "
                                          "partitions before the others take over.", default=10.0)
    commit_interval_seconds: float = _doc("How often the engine commits a transaction (state, outputs, "
                                          "offsets) and checks for windows to close.", default=0.5)
    max_account_series: int = _doc("Most accounts with per-account gauges on one worker's /metrics (the "
                                   "busiest); the number left out is engagement_account_series_dropped.",
                                   default=2000)
    benchmarks_file: str = _doc("YAML or JSON file overriding the benchmark table per platform and industry "
                                "(streams/model/bands.py shows the format).", default="")
    simulate_rate: float = _doc("Events per second that `engagement simulate` produces.", default=200.0)
    simulate_accounts: int = _doc("Accounts the simulator invents.", default=25)
    simulate_seed: int = _doc("Seed of the simulator (same seed, same traffic).", default=7)
    simulate_collapse_account: str = _doc("Account whose engagement the simulator collapses (empty: none).",
                                          default="")
    simulate_collapse_after_seconds: float = _doc("Seconds after start when the collapse begins.",
                                                  default=60.0)
    simulate_crisis_account: str = _doc("Account whose mentions the simulator turns into a PR crisis: several "
                                        "times the volume, mostly negative (empty: none).", default="")
    simulate_crisis_after_seconds: float = _doc("Seconds after start when the crisis begins.", default=60.0)
    simulate_reply_delay_scale: float = _doc("Factor on the simulated teams' reply delays (hours at 1; a test "
                                             "with SLAs shortened by the same factor keeps their proportion).",
                                             default=1.0)
    simulate_day_seconds: float = _doc("Length of the simulator's day in seconds: posting intervals and engagement "
                                       "decay scale with it (tests with shortened post maturity shorten it too).",
                                       default=86400.0)
    kafka_home: str = _doc("Cache of the embedded broker's jars (empty: ~/.cache/engagement/kafka-VERSION).",
                           default="")
    log_level: str = _doc("Worker log level (crit, error, warn, info, debug).", default="warn")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> "Settings":
        env = os.environ if env is None else env
        values = {}
        for f in dataclasses.fields(cls):
            name = env_name(f.name)
            if name in env:
                values[f.name] = _parse(f, env[name])
        values.update(overrides)
        return cls(**values)

    def as_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[env_name(f.name)] = ",".join(value) if isinstance(value, tuple) else str(value)
        return out

    @property
    def heartbeat_interval_seconds(self) -> float:
        """Consumer group heartbeats (the engine's group and Faust's): a member learns of a rebalance
        only at its next heartbeat, so a second worker starting waits up to this long to get work."""
        return min(0.5, self.session_timeout_seconds / 3)

    @property
    def worker_url(self) -> str:
        if self.advertised_url:
            return self.advertised_url
        host = socket.gethostname() if self.web_host in ("0.0.0.0", "::", "") else self.web_host
        return f"http://{host}:{self.web_port}"

    @property
    def output_topics(self) -> tuple[str, ...]:
        return (self.topic_post_metrics, self.topic_post_lifetime, self.topic_account_metrics, self.topic_dlq)


def topics_named(prefix: str, *, keep: tuple[str, ...] = ()) -> dict[str, str]:
    """Settings overrides that give every topic of the service a name under ``prefix`` (tests, the
    benchmarks: topics of their own), except the fields in ``keep``."""
    return {f.name: f"{prefix}.{f.name.removeprefix('topic_')}" for f in dataclasses.fields(Settings)
            if f.name.startswith("topic_") and f.type in (str, "str") and f.name not in keep}


def env_name(field_name: str) -> str:
    if field_name == "kafka_bootstrap_servers":
        return "KAFKA_BOOTSTRAP_SERVERS"
    return PREFIX + field_name.upper()


def _parse(f: dataclasses.Field, raw: str):
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"{env_name(f.name)}={raw!r}: {exc}") from None
    return raw


def markdown_table() -> str:
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for f in dataclasses.fields(Settings):
        default = "" if f.metadata.get("secret") else f.default  # a secret's default is never shown
        if isinstance(default, tuple):
            default = ",".join(default)
        rows.append(f"| `{env_name(f.name)}` | `{default}` | {f.metadata['doc']} |")
    return "\n".join(rows)
