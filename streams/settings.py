"""The one settings object: every knob of the service, read from the environment (12-factor).

Each field is read from ``ENGAGEMENT_<FIELD NAME IN UPPER CASE>``; the one exception is the Kafka
address, read from the conventional ``KAFKA_BOOTSTRAP_SERVERS`` (unset: the embedded broker).
A field's ``check`` says which values it takes; a value outside it, or an ``ENGAGEMENT_*`` variable
that names no field (a typo), is a ``SettingsError``. The README's settings table is generated from
the fields (``engagement settings --markdown``).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .contract import TYPES

PREFIX = "ENGAGEMENT_"
DEFAULT_ENGAGED_TYPES = ("like", "reaction", "comment", "share", "save", "click")
LOG_LEVELS = ("crit", "error", "warn", "info", "debug")  # what Faust's worker takes
LOG_FORMATS = ("text", "json")  # streams/logs.py


class SettingsError(ValueError):
    """A setting the service cannot start with; its message is one line that names the variable."""


@dataclass(frozen=True)
class Check:
    allowed: str  # the values it takes, as the error and the settings table say it
    allows: Callable[[Any], bool]


def _seconds(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


POSITIVE = Check("> 0", lambda v: v > 0)
NON_NEGATIVE = Check(">= 0", lambda v: v >= 0)
AT_LEAST_1 = Check(">= 1", lambda v: v >= 1)
PORT = Check("1..65535", lambda v: 1 <= v <= 65535)
NOT_EMPTY = Check("not empty", bool)
TOPIC = Check(
    "a Kafka topic name: 1 to 249 of a-z A-Z 0-9 . _ -",
    lambda v: bool(re.fullmatch(r"[A-Za-z0-9._-]{1,249}", v)) and v not in (".", ".."),
)
URL = Check("empty, or an http:// or https:// URL", lambda v: not v or v.startswith(("http://", "https://")))
LOG_LEVEL = Check(f"one of {', '.join(LOG_LEVELS)}", lambda v: v in LOG_LEVELS)
LOG_FORMAT = Check(f"one of {', '.join(LOG_FORMATS)}", lambda v: v in LOG_FORMATS)
SECONDS_LIST = Check("numbers of seconds > 0", lambda v: all(_seconds(age) for age in v))
EVENT_TYPES = Check("one or more interaction types of the event schema", lambda v: bool(v) and set(v) <= set(TYPES))


def _doc(text: str, secret: bool = False, check: Check | None = None, **kw):
    return field(metadata={"doc": text, "secret": secret, "check": check}, **kw)


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap_servers: str = _doc(
        "Kafka bootstrap servers (env `KAFKA_BOOTSTRAP_SERVERS`, no prefix). Empty: the project starts "
        "its embedded broker.",
        default="",
    )
    kafka_security_protocol: str = _doc(
        "How clients reach Kafka: PLAINTEXT, SASL_PLAINTEXT, SASL_SSL or SSL (README: Authenticated connections).",
        default="PLAINTEXT",
    )
    kafka_sasl_mechanism: str = _doc(
        "SASL mechanism for SASL_*: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN.", default="SCRAM-SHA-512"
    )
    kafka_sasl_username: str = _doc("SASL user name (SASL_* only).", default="")
    kafka_sasl_password: str = _doc(
        "SASL password (SASL_* only). Secret: never printed, not in repr().", default="", repr=False, secret=True
    )
    kafka_ssl_cafile: str = _doc(
        "PEM file of the CA that signed the brokers' certificates (SSL, SASL_SSL; empty: the system's CAs).", default=""
    )
    kafka_ssl_certfile: str = _doc("PEM client certificate for mutual TLS (SSL, SASL_SSL; empty: none).", default="")
    kafka_ssl_keyfile: str = _doc("PEM private key of the client certificate (empty: in the certfile).", default="")
    app_id: str = _doc("Faust app id; also the prefix of the consumer groups.", default="engagement", check=NOT_EMPTY)
    topic_interactions: str = _doc("Input topic of interaction events.", default="engagement.interactions", check=TOPIC)
    topic_accounts: str = _doc(
        "Compacted topic of account reference records (key = account_id).", default="engagement.accounts", check=TOPIC
    )
    topic_posts: str = _doc(
        "Compacted topic of post reference records (key = post_id): account, platform, "
        "publication time, content type. Records older than the post lifetime plus the "
        "benchmark period are deleted.",
        default="engagement.posts",
        check=TOPIC,
    )
    topic_post_lifetime: str = _doc(
        "Output: per post, its aggregates from publication to each of the "
        "ENGAGEMENT_POST_LIFETIME_AGES_SECONDS (key = post_id).",
        default="engagement.post-lifetime",
        check=TOPIC,
    )
    topic_post_metrics: str = _doc(
        "Output: final per-post window records.", default="engagement.post-metrics", check=TOPIC
    )
    topic_account_metrics: str = _doc(
        "Output: final per-account window records.", default="engagement.account-metrics", check=TOPIC
    )
    topic_dlq: str = _doc(
        "Dead-letter topic: every rejected input with its reason.", default="engagement.interactions.dlq", check=TOPIC
    )
    topic_state: str = _doc(
        "Internal changelog of the engine's window and dedup state.", default="engagement.engine-state", check=TOPIC
    )
    topic_mentions: str = _doc(
        "Internal compacted topic of the mentions not answered yet (listening SLA).",
        default="engagement.engine-mentions",
        check=TOPIC,
    )
    topic_snapshots: str = _doc(
        "Internal compacted topic of the engine's state snapshots (a restore reads the "
        "latest snapshot, then the journal written after it).",
        default="engagement.engine-snapshots",
        check=TOPIC,
    )
    topic_partitions: int = _doc("Partitions of every topic the service creates.", default=8, check=AT_LEAST_1)
    topic_replication: int = _doc("Replication factor of the topics the service creates.", default=1, check=AT_LEAST_1)
    web_host: str = _doc("Interface of the worker's HTTP server (query API, /metrics).", default="127.0.0.1")
    web_port: int = _doc("Port of the worker's HTTP server.", default=6066, check=PORT)
    advertised_url: str = _doc(
        "URL at which the other workers reach this worker's HTTP API. It also names "
        "the worker's transactional producer and its static consumer group membership, "
        "so it must be unique per worker and the same across its restarts. Empty: "
        "http://WEB_HOST:WEB_PORT, with the host name for a WEB_HOST of 0.0.0.0.",
        default="",
        check=URL,
    )
    window_seconds: int = _doc(
        "Length of the tumbling windows (per post and per account).", default=60, check=AT_LEAST_1
    )
    rolling_window_seconds: int = _doc(
        "Length of the rolling per-account window (step = window_seconds).", default=3600, check=AT_LEAST_1
    )
    window_grace_seconds: float = _doc(
        "Grace for out-of-order events; a window closes at end + grace, by the wall clock.",
        default=300.0,
        check=NON_NEGATIVE,
    )
    dedup_horizon_seconds: float = _doc(
        "Events with an event_id that arrived this recently count once.", default=900.0, check=POSITIVE
    )
    snapshot_interval_seconds: float = _doc(
        "How often each partition's whole state is written to the snapshot "
        "topic; a restore replays only the journal written since.",
        default=60.0,
        check=POSITIVE,
    )
    mention_acknowledge_sla_seconds: float = _doc(
        "Listening SLA: a mention not replied to within this long is past the acknowledge SLA (DOMAIN.md: "
        "12 h); EngagementMentionUnanswered warns.",
        default=43200.0,
        check=POSITIVE,
    )
    mention_resolve_sla_seconds: float = _doc(
        "Listening SLA: a mention not replied to within this long is past the resolve SLA (DOMAIN.md: 24 h); "
        "EngagementMentionUnanswered pages.",
        default=86400.0,
        check=POSITIVE,
    )
    mention_retention_seconds: float = _doc(
        "How long an unanswered mention is kept waiting for its reply; then it is dropped (counted in "
        "engagement_mentions_expired_total). Bounds the open-mention state.",
        default=259200.0,
        check=POSITIVE,
    )
    post_lifetime_seconds: float = _doc(
        "How long after its publication a post's engagement is aggregated (its lifetime record at this "
        "age is its last). Bounds the per-post state.",
        default=604800.0,
        check=POSITIVE,
    )
    post_lifetime_ages_seconds: tuple[str, ...] = _doc(
        "Comma-separated post ages (seconds) at which a lifetime record is published; the maturity and the "
        "lifetime are always among them.",
        default=("3600", "86400", "604800"),
        check=SECONDS_LIST,
    )
    post_maturity_seconds: float = _doc(
        "The age at which a post's ER counts in its account's ER per post (DOMAIN.md: 24 h), compared "
        "with the benchmark band by EngagementRateBelowBenchmark.",
        default=86400.0,
        check=POSITIVE,
    )
    benchmark_period_seconds: float = _doc(
        "An account's ER per post is the mean over its posts published this recently (DOMAIN.md: 7 days) "
        "that have reached the maturity age.",
        default=604800.0,
        check=POSITIVE,
    )
    engaged_types: tuple[str, ...] = _doc(
        "Comma-separated interaction types that count as engaged.", default=DEFAULT_ENGAGED_TYPES, check=EVENT_TYPES
    )
    max_message_bytes: int = _doc(
        "Largest input message accepted; larger ones go to the DLQ (too_large).", default=1_048_576, check=AT_LEAST_1
    )
    max_batch_events: int = _doc(
        "Most events in one input message (a JSON array); more: DLQ (too_large).", default=10_000, check=AT_LEAST_1
    )
    session_timeout_seconds: float = _doc(
        "Consumer group session timeout: how long a dead worker keeps its partitions before the others take over.",
        default=10.0,
        check=POSITIVE,
    )
    commit_interval_seconds: float = _doc(
        "How often the engine commits a transaction (state, outputs, offsets) and checks for windows to close.",
        default=0.5,
        check=POSITIVE,
    )
    max_account_series: int = _doc(
        "Most accounts with per-account gauges on one worker's /metrics (the "
        "busiest); the number left out is engagement_account_series_dropped.",
        default=2000,
        check=NON_NEGATIVE,
    )
    benchmarks_file: str = _doc(
        "YAML or JSON file overriding the benchmark table per platform and industry "
        "(streams/model/bands.py shows the format).",
        default="",
    )
    simulate_rate: float = _doc("Events per second that `engagement simulate` produces.", default=200.0, check=POSITIVE)
    simulate_accounts: int = _doc("Accounts the simulator invents.", default=25, check=AT_LEAST_1)
    simulate_seed: int = _doc("Seed of the simulator (same seed, same traffic).", default=7)
    simulate_collapse_account: str = _doc("Account whose engagement the simulator collapses (empty: none).", default="")
    simulate_collapse_after_seconds: float = _doc(
        "Seconds after start when the collapse begins.", default=60.0, check=NON_NEGATIVE
    )
    simulate_crisis_account: str = _doc(
        "Account whose mentions the simulator turns into a PR crisis: several "
        "times the volume, mostly negative (empty: none).",
        default="",
    )
    simulate_crisis_after_seconds: float = _doc(
        "Seconds after start when the crisis begins.", default=60.0, check=NON_NEGATIVE
    )
    simulate_reply_delay_scale: float = _doc(
        "Factor on the simulated teams' reply delays (hours at 1; a test "
        "with SLAs shortened by the same factor keeps their proportion).",
        default=1.0,
        check=POSITIVE,
    )
    simulate_day_seconds: float = _doc(
        "Length of the simulator's day in seconds: posting intervals and engagement "
        "decay scale with it (tests with shortened post maturity shorten it too).",
        default=86400.0,
        check=POSITIVE,
    )
    kafka_home: str = _doc(
        "Cache of the embedded broker's jars (empty: ~/.cache/engagement/kafka-VERSION).", default=""
    )
    log_level: str = _doc("Worker log level.", default="warn", check=LOG_LEVEL)
    log_format: str = _doc(
        "Worker log format: text (Faust's lines) or json (one JSON object per line: time, "
        "level, logger, message, and on the engine's lines the partitions and the commit).",
        default="text",
        check=LOG_FORMAT,
    )

    def __post_init__(self):
        problems = [
            f"{env_name(f.name)}={_env_value(getattr(self, f.name))!r}: must be {check.allowed}"
            for f in dataclasses.fields(self)
            if (check := f.metadata["check"]) and not check.allows(getattr(self, f.name))
        ]
        if problems:
            raise SettingsError("; ".join(problems))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> Settings:
        env = os.environ if env is None else env
        unknown = sorted(
            name
            for name, value in env.items()
            if name.startswith(PREFIX) and name not in ENV_NAMES and not _service_link(name, value)
        )
        if unknown:
            raise SettingsError("; ".join(_not_a_setting(name) for name in unknown))
        values = {}
        for f in dataclasses.fields(cls):
            name = env_name(f.name)
            if name in env:
                values[f.name] = _parse(f, env[name])
        values.update(overrides)
        return cls(**values)

    def as_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        return {env_name(f.name): _env_value(getattr(self, f.name)) for f in dataclasses.fields(self)}

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
    def output_topics(self) -> tuple[str, ...]:
        return (self.topic_post_metrics, self.topic_post_lifetime, self.topic_account_metrics, self.topic_dlq)


def topics_named(prefix: str, *, keep: tuple[str, ...] = ()) -> dict[str, str]:
    """Settings overrides that give every topic of the service a name under ``prefix`` (tests, the
    benchmarks: topics of their own), except the fields in ``keep``."""
    return {
        f.name: f"{prefix}.{f.name.removeprefix('topic_')}"
        for f in dataclasses.fields(Settings)
        if f.name.startswith("topic_") and f.type in (str, "str") and f.name not in keep
    }


def env_name(field_name: str) -> str:
    if field_name == "kafka_bootstrap_servers":
        return "KAFKA_BOOTSTRAP_SERVERS"
    return PREFIX + field_name.upper()


ENV_NAMES = frozenset(env_name(f.name) for f in dataclasses.fields(Settings))
# What Kubernetes puts in a pod's environment for each Service of its namespace (the worker's own
# Service, engagement-worker, among them): ENGAGEMENT_WORKER_SERVICE_HOST, ..._PORT=tcp://..., and so on.
_SERVICE_LINK = re.compile(
    r"[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?"
    r"|PORT_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)"
)


def _service_link(name: str, value: str) -> bool:
    if name.endswith("_PORT") and re.match(r"(tcp|udp|sctp)://", value):
        return True
    return bool(_SERVICE_LINK.fullmatch(name))


def _not_a_setting(name: str) -> str:
    # Compared without the prefix, which every name shares and which would make any two look alike.
    by_stem = {known.removeprefix(PREFIX): known for known in ENV_NAMES}
    close = difflib.get_close_matches(name.removeprefix(PREFIX), by_stem, n=1)
    hint = f"did you mean {by_stem[close[0]]}?" if close else "`engagement settings` lists the settings"
    return f"{name} is not a setting ({hint})"


def _env_value(value) -> str:
    return ",".join(value) if isinstance(value, tuple) else str(value)


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
        raise SettingsError(f"{env_name(f.name)}={raw!r}: {exc}") from None
    return raw


def markdown_table() -> str:
    rows = ["| variable | default | allowed | meaning |", "| --- | --- | --- | --- |"]
    for f in dataclasses.fields(Settings):
        default = "" if f.metadata["secret"] else _env_value(f.default)  # a secret's default is never shown
        allowed = f.metadata["check"].allowed if f.metadata["check"] else ""
        rows.append(f"| `{env_name(f.name)}` | `{default}` | {allowed} | {f.metadata['doc']} |")
    return "\n".join(rows)
