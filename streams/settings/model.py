"""The one settings object: every knob of the service, read from the environment (12-factor).

Each field is read from ``ENGAGEMENT_<FIELD NAME IN UPPER CASE>``; the one exception is the Kafka
address, read from the conventional ``KAFKA_BOOTSTRAP_SERVERS`` (unset: the embedded broker).
A field's ``check`` says which values it takes (``checks``); a value outside it, or an
``ENGAGEMENT_*`` variable that names no field (a typo), is a ``SettingsError``. The README's settings
table is generated from the fields (``engagement settings --markdown``).
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from .checks import (
    AT_LEAST_1,
    DEFAULT_ENGAGED_TYPES,
    EVENT_TYPES,
    LOG_FORMAT,
    LOG_LEVEL,
    NON_NEGATIVE,
    NOT_EMPTY,
    PORT,
    POSITIVE,
    PREFIX,
    RESOLVED_BY,
    SECONDS_LIST,
    TOPIC,
    URL,
    SettingsError,
    doc,
    env_name,
    env_value,
    not_a_setting,
    parse,
    problems,
    service_link,
)
from .connection import KafkaConnection
from .simulator import SimulatorSettings


@dataclass(frozen=True)
class Settings(SimulatorSettings, KafkaConnection):
    app_id: str = doc("Faust app id; also the prefix of the consumer groups.", default="engagement", check=NOT_EMPTY)
    topic_interactions: str = doc("Input topic of interaction events.", default="engagement.interactions", check=TOPIC)
    topic_accounts: str = doc(
        "Compacted topic of account reference records (key = account_id).", default="engagement.accounts", check=TOPIC
    )
    topic_posts: str = doc(
        "Compacted topic of post reference records (key = post_id): account, platform, "
        "publication time, content type. Records older than the post lifetime plus the "
        "benchmark period are deleted.",
        default="engagement.posts",
        check=TOPIC,
    )
    topic_post_lifetime: str = doc(
        "Output: per post, its aggregates from publication to each of the "
        "ENGAGEMENT_POST_LIFETIME_AGES_SECONDS (key = post_id).",
        default="engagement.post-lifetime",
        check=TOPIC,
    )
    topic_post_metrics: str = doc(
        "Output: final per-post window records.", default="engagement.post-metrics", check=TOPIC
    )
    topic_account_metrics: str = doc(
        "Output: final per-account window records.", default="engagement.account-metrics", check=TOPIC
    )
    topic_dlq: str = doc(
        "Dead-letter topic: every rejected input with its reason.", default="engagement.interactions.dlq", check=TOPIC
    )
    topic_state: str = doc(
        "Internal changelog of the engine's window and dedup state.", default="engagement.engine-state", check=TOPIC
    )
    topic_mentions: str = doc(
        "Internal compacted topic of the mentions not answered yet (listening SLA).",
        default="engagement.engine-mentions",
        check=TOPIC,
    )
    topic_snapshots: str = doc(
        "Internal compacted topic of the engine's state snapshots (a restore reads the "
        "latest snapshot, then the journal written after it).",
        default="engagement.engine-snapshots",
        check=TOPIC,
    )
    topic_partitions: int = doc("Partitions of every topic the service creates.", default=8, check=AT_LEAST_1)
    topic_replication: int = doc("Replication factor of the topics the service creates.", default=1, check=AT_LEAST_1)
    web_host: str = doc("Interface of the worker's HTTP server (query API, /metrics).", default="127.0.0.1")
    web_port: int = doc("Port of the worker's HTTP server.", default=6066, check=PORT)
    advertised_url: str = doc(
        "URL at which the other workers reach this worker's HTTP API. It also names "
        "the worker's transactional producer and its static consumer group membership, "
        "so it must be unique per worker and the same across its restarts. Empty: "
        "http://WEB_HOST:WEB_PORT, with the host name for a WEB_HOST of 0.0.0.0.",
        default="",
        check=URL,
    )
    window_seconds: int = doc(
        "Length of the tumbling windows (per post and per account).", default=60, check=AT_LEAST_1
    )
    rolling_window_seconds: int = doc(
        "Length of the rolling per-account window (step = window_seconds).", default=3600, check=AT_LEAST_1
    )
    window_grace_seconds: float = doc(
        "Grace for out-of-order events; a window closes at end + grace, by the wall clock.",
        default=300.0,
        check=NON_NEGATIVE,
    )
    dedup_horizon_seconds: float = doc(
        "Events with an event_id that arrived this recently count once.", default=900.0, check=POSITIVE
    )
    snapshot_interval_seconds: float = doc(
        "How often each partition's whole state is written to the snapshot "
        "topic; a restore replays only the journal written since.",
        default=60.0,
        check=POSITIVE,
    )
    mention_acknowledge_sla_seconds: float = doc(
        "Listening SLA: a mention not replied to within this long is past the acknowledge SLA (DOMAIN.md: "
        "12 h); EngagementMentionUnanswered warns.",
        default=43200.0,
        check=POSITIVE,
    )
    mention_resolve_sla_seconds: float = doc(
        "Listening SLA: a mention not resolved within this long is past the resolve SLA (DOMAIN.md: 24 h); "
        "EngagementMentionUnanswered pages.",
        default=86400.0,
        check=POSITIVE,
    )
    mention_resolved_by: str = doc(
        "What resolves a mention: resolve (a resolve event, sent when the team closes it, after a reply or "
        "without one) or reply (for producers that send replies only: the first reply resolves it too).",
        default="resolve",
        check=RESOLVED_BY,
    )
    mention_retention_seconds: float = doc(
        "How long an unresolved mention is kept waiting for its reply and resolve; then it is dropped "
        "(counted in engagement_mentions_expired_total). Bounds the open-mention state.",
        default=259200.0,
        check=POSITIVE,
    )
    post_lifetime_seconds: float = doc(
        "How long after its publication a post's engagement is aggregated (its lifetime record at this "
        "age is its last). Bounds the per-post state.",
        default=604800.0,
        check=POSITIVE,
    )
    post_lifetime_ages_seconds: tuple[str, ...] = doc(
        "Comma-separated post ages (seconds) at which a lifetime record is published; the maturity and the "
        "lifetime are always among them.",
        default=("3600", "86400", "604800"),
        check=SECONDS_LIST,
    )
    post_maturity_seconds: float = doc(
        "The age at which a post's ER counts in its account's ER per post (DOMAIN.md: 24 h), compared "
        "with the benchmark band by EngagementRateBelowBenchmark.",
        default=86400.0,
        check=POSITIVE,
    )
    benchmark_period_seconds: float = doc(
        "An account's ER per post is the mean over its posts published this recently (DOMAIN.md: 7 days) "
        "that have reached the maturity age.",
        default=604800.0,
        check=POSITIVE,
    )
    early_warning_first_check_seconds: float = doc(
        "From this age on, at each of ENGAGEMENT_POST_LIFETIME_AGES_SECONDS before maturity, a young post's ER "
        "at maturity is projected from its account's curve (PostOffTrack; DOMAIN.md, early warning); no record "
        "age there: no early warning.",
        default=3600.0,
        check=POSITIVE,
    )
    early_warning_min_posts: int = doc(
        "Matured posts (of a content type, in the benchmark period) an account needs before its curve projects "
        "its young posts: a new account has no early warning until it has one.",
        default=5,
        check=AT_LEAST_1,
    )
    early_warning_min_expected_engaged: float = doc(
        "Engaged interactions an account's median post gathers by a check age, at least, for its young posts "
        "to be projected there: below, a post's count swings by chance as much as a collapse moves it.",
        default=30.0,
        check=NON_NEGATIVE,
    )
    own_baseline_latest_posts: int = doc(
        "An account's latest matured posts whose mean ER EngagementPostRateBelowOwnBaseline compares with "
        "the median ER of its posts of the benchmark period before them (its own baseline per post).",
        default=3,
        check=AT_LEAST_1,
    )
    engaged_types: tuple[str, ...] = doc(
        "Comma-separated interaction types that count as engaged.", default=DEFAULT_ENGAGED_TYPES, check=EVENT_TYPES
    )
    max_message_bytes: int = doc(
        "Largest input message accepted; larger ones go to the DLQ (too_large).", default=1_048_576, check=AT_LEAST_1
    )
    max_batch_events: int = doc(
        "Most events in one input message (a JSON array); more: DLQ (too_large).", default=10_000, check=AT_LEAST_1
    )
    session_timeout_seconds: float = doc(
        "Consumer group session timeout: how long a dead worker keeps its partitions before the others take over.",
        default=10.0,
        check=POSITIVE,
    )
    shutdown_timeout_seconds: float = doc(
        "Longest a worker takes to stop on SIGTERM: it commits what it read and leaves the group, and past "
        "this (a broker gone) it exits without, for the next owner to redo. Below the orchestrator's grace.",
        default=30.0,
        check=POSITIVE,
    )
    commit_interval_seconds: float = doc(
        "How often the engine commits a transaction (state, outputs, offsets) and checks for windows to close.",
        default=0.5,
        check=POSITIVE,
    )
    max_account_series: int = doc(
        "Most accounts with per-account gauges on one worker's /metrics (the "
        "busiest); the number left out is engagement_account_series_dropped.",
        default=2000,
        check=NON_NEGATIVE,
    )
    benchmarks_file: str = doc(
        "YAML or JSON file overriding the benchmark table per platform and industry "
        "(streams/model/bands.py shows the format).",
        default="",
    )
    kafka_home: str = doc("Cache of the embedded broker's jars (empty: ~/.cache/engagement/kafka-VERSION).", default="")
    log_level: str = doc("Worker log level.", default="warn", check=LOG_LEVEL)
    log_format: str = doc(
        "Worker log format: text (Faust's lines) or json (one JSON object per line: time, "
        "level, logger, message, and on the engine's lines the partitions and the commit).",
        default="text",
        check=LOG_FORMAT,
    )

    def __post_init__(self):
        if found := problems(self):
            raise SettingsError("; ".join(found))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> Settings:
        env = os.environ if env is None else env
        unknown = sorted(
            name
            for name, value in env.items()
            if name.startswith(PREFIX) and name not in ENV_NAMES and not service_link(name, value)
        )
        if unknown:
            raise SettingsError("; ".join(not_a_setting(name, ENV_NAMES) for name in unknown))
        values = {}
        for f in dataclasses.fields(cls):
            name = env_name(f.name)
            if name in env:
                values[f.name] = parse(f, env[name])
        values.update(overrides)
        return cls(**values)

    def as_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        return {env_name(f.name): env_value(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def shown_env(self) -> dict[str, str]:
        """as_env() for people to read: a secret that is set shows as asterisks."""
        secret = {env_name(f.name) for f in dataclasses.fields(self) if f.metadata["secret"]}
        return {name: "********" if name in secret and value else value for name, value in self.as_env().items()}

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
    def state_topics(self) -> tuple[str, ...]:
        """What holds a partition's state: the journal, the snapshots, the open mentions."""
        return (self.topic_state, self.topic_snapshots, self.topic_mentions)

    @property
    def output_topics(self) -> tuple[str, ...]:
        return (self.topic_post_metrics, self.topic_post_lifetime, self.topic_account_metrics, self.topic_dlq)


ENV_NAMES = frozenset(env_name(f.name) for f in dataclasses.fields(Settings))
