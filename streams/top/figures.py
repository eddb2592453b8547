"""The figures `engagement top` shows, computed from two consecutive readings (pure, no I/O): counts
as the workers report them, rates as the change of a counter over the seconds between the readings."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .early import off_track_posts
from .sources import Metrics, MonitoringReading, PerPost, WorkerReading

SPARK_POINTS = 30  # refreshes of history per sparkline
MARKETING_ALERTS = ("EngagementRateBelowBenchmark", "EngagementDropVsBaseline")
ALL_POSTS = "all"  # the content_type of an account's ER per post over all its posts


@dataclass
class WorkerFigures:
    url: str
    error: str | None = None
    partitions: list[int] = field(default_factory=list)
    consumed: float = 0.0
    counted: float = 0.0
    duplicate: float = 0.0
    rejected: dict[str, float] = field(default_factory=dict)  # reason -> count
    late: float = 0.0
    rates: dict[str, float] = field(default_factory=dict)  # consumed, counted, duplicate, rejected, late: per s
    lag: dict[int, float] = field(default_factory=dict)  # partition -> messages
    commit_seconds: float | None = None
    restore_seconds: float | None = None
    finals_per_minute: float = 0.0
    closed_through_s: float | None = None  # end of the latest closed window (epoch seconds)


@dataclass
class AccountRate:
    """An account as the view ranks it: its ER per post (all its posts) against its band, both from
    Prometheus, and its hourly rolling ER by followers, from the workers. A band describes an average ER
    per post (DOMAIN.md), so it goes with ``per_post``, never with ``hourly``."""

    account_id: str
    platform: str
    per_post: float | None = None
    band: dict[str, float] | None = None
    hourly: float | None = None


@dataclass
class Figures:
    workers: list[WorkerFigures]
    top: list[AccountRate]
    bottom: list[AccountRate]
    # firing marketing alerts: {"alert", "account_id", "platform", "content_type", "per_post", "band", "hourly",
    # "receivers", ...}: the ER per post and band of the alert's content type ("all" unless the alert has one)
    below: list[dict]
    unanswered: dict[str, float]  # SLA label -> mentions past it, all accounts
    unanswered_accounts: list[tuple[str, str, float]]  # (account, SLA, count), largest first
    alerts: list[dict]  # every firing alert: {"alert", "severity", "receivers", "labels"}
    sparks: dict[str, list[float]]  # "platform/type" -> interactions/s history
    prometheus_error: str | None = None
    alertmanager_error: str | None = None
    # "per_post": top and bottom are the accounts ranked by ER per post (Prometheus answered); "hourly":
    # no ER per post to rank by (no Prometheus given, or it did not answer), ranked by the hourly ER.
    ranked_by: str = "per_post"
    off_track: list[dict] = field(default_factory=list)  # firing PostOffTrack: streams/top/early.py

    def answering(self) -> list[WorkerFigures]:
        return [w for w in self.workers if w.error is None]

    def rate_totals(self) -> dict[str, float]:
        keys = ("consumed", "counted", "duplicate", "rejected", "late")
        return {k: sum(w.rates.get(k, 0.0) for w in self.workers) for k in keys}

    def count_totals(self) -> dict[str, Any]:
        """The counters summed over the workers that answered; ``rejected`` by reason, lag by partition."""
        up = self.answering()
        rejected: dict[str, float] = {}
        lag: dict[int, float] = {}
        for w in up:
            for reason, n in w.rejected.items():
                rejected[reason] = rejected.get(reason, 0.0) + n
            lag.update(w.lag)
        return {
            "consumed": sum(w.consumed for w in up),
            "counted": sum(w.counted for w in up),
            "duplicate": sum(w.duplicate for w in up),
            "late": sum(w.late for w in up),
            "rejected": rejected,
            "lag": lag,
            "partitions": sum(len(w.partitions) for w in up),
            "finals_per_minute": sum(w.finals_per_minute for w in up),
        }


def _rate(now: float, before: float | None, seconds: float) -> float:
    if before is None or seconds <= 0 or now < before:  # first reading, or the worker restarted
        return 0.0
    return (now - before) / seconds


def _counters(m: Metrics) -> dict[str, float]:
    return {
        "consumed": m.total("engagement_events_consumed_total"),
        "counted": m.total("engagement_events_counted_total"),
        "duplicate": m.total("engagement_events_duplicate_total"),
        "rejected": m.total("engagement_events_rejected_total"),
        "late": m.total("engagement_events_late_total"),
        "finals": m.total("engagement_window_records_total"),
    }


def worker_figures(reading: WorkerReading, previous: WorkerReading | None, seconds: float) -> WorkerFigures:
    out = WorkerFigures(reading.url, reading.error)
    m = reading.metrics
    if m is None:
        return out
    out.partitions = list((reading.health or {}).get("partitions", []))
    now = _counters(m)
    before = _counters(previous.metrics) if previous is not None and previous.metrics is not None else {}
    out.consumed, out.counted, out.duplicate, out.late = now["consumed"], now["counted"], now["duplicate"], now["late"]
    out.rejected = {labels["reason"]: v for labels, v in m.series("engagement_events_rejected_total")}
    out.rates = {
        k: _rate(now[k], before.get(k), seconds) for k in ("consumed", "counted", "duplicate", "rejected", "late")
    }
    out.finals_per_minute = 60 * _rate(now["finals"], before.get("finals"), seconds)
    out.lag = {int(labels["partition"]): v for labels, v in m.series("engagement_consumer_lag_messages")}
    if m.has("engagement_last_commit_duration_seconds"):
        out.commit_seconds = m.total("engagement_last_commit_duration_seconds")
    if m.has("engagement_last_restore_duration_seconds"):
        out.restore_seconds = m.total("engagement_last_restore_duration_seconds")
    closed = m.total("engagement_window_closed_through_timestamp_seconds")
    out.closed_through_s = closed or None
    return out


class History:
    """Interactions/s per platform and type over the last refreshes, for the sparklines."""

    def __init__(self, points: int = SPARK_POINTS):
        self.points = points
        self.series: dict[str, deque] = {}

    def add(self, readings: list[WorkerReading], previous: dict[str, WorkerReading], seconds: float) -> None:
        current: dict[str, float] = {}
        for reading in readings:
            before = previous.get(reading.url)
            if reading.metrics is None:
                continue
            old = (
                {}
                if before is None or before.metrics is None
                else {
                    f"{ls['platform']}/{ls['type']}": v
                    for ls, v in before.metrics.series("engagement_interactions_total")
                }
            )
            for labels, value in reading.metrics.series("engagement_interactions_total"):
                key = f"{labels['platform']}/{labels['type']}"
                current[key] = current.get(key, 0.0) + _rate(value, old.get(key), seconds)
        length = max((len(v) for v in self.series.values()), default=0)
        for key in set(self.series) | set(current):
            if key not in self.series:  # new: zeros for the refreshes before it, so that the points align
                self.series[key] = deque([0.0] * length, maxlen=self.points)
            self.series[key].append(current.get(key, 0.0))

    def sparks(self) -> dict[str, list[float]]:
        return {k: list(v) for k, v in sorted(self.series.items())}


def figures(
    readings: list[WorkerReading],
    previous: dict[str, WorkerReading],
    seconds: float,
    monitoring: MonitoringReading,
    history: History,
    ranked: int = 5,
) -> Figures:
    workers = [worker_figures(r, previous.get(r.url), seconds) for r in readings]
    per_post: dict[tuple[str, str], PerPost] = monitoring.per_post or {}
    hourly: dict[str, tuple[str, float]] = {}  # account_id -> (platform, ER by followers over the rolling window)
    unanswered: dict[str, float] = {}
    per_account: list[tuple[str, str, float]] = []
    for reading in readings:
        if reading.metrics is None:
            continue
        for labels, value in reading.metrics.series("engagement_rate_ratio", basis="followers"):
            hourly[labels["account_id"]] = (labels["platform"], value)
        for labels, value in reading.metrics.series("engagement_mentions_unanswered"):
            unanswered[labels["sla"]] = unanswered.get(labels["sla"], 0.0) + value
            per_account.append((labels["account_id"], labels["sla"], value))
    if monitoring.per_post is not None:
        ranked_by = "per_post"
        rates = [
            AccountRate(account, p.platform, p.er, p.band, hourly.get(account, (None, None))[1])
            for (account, content_type), p in per_post.items()
            if content_type == ALL_POSTS and p.er is not None
        ]
        rates.sort(key=lambda r: (-r.per_post, r.account_id))  # type: ignore[operator]  # set: p.er is not None
    else:
        ranked_by = "hourly"
        rates = [AccountRate(account, platform, hourly=er) for account, (platform, er) in hourly.items()]
        rates.sort(key=lambda r: (-r.hourly, r.account_id))  # type: ignore[operator]  # set: hourly=er
    alerts, below = [], []
    for alert in monitoring.alerts or []:
        if alert.get("status", {}).get("state") != "active":
            continue
        labels = alert.get("labels", {})
        entry = {
            "alert": labels.get("alertname", "?"),
            "severity": labels.get("severity", ""),
            "receivers": [r.get("name", "?") for r in alert.get("receivers", [])],
            "labels": labels,
        }
        alerts.append(entry)
        if entry["alert"] in MARKETING_ALERTS:
            account = labels.get("account_id", "")
            content_type = labels.get("content_type", ALL_POSTS)
            p = per_post.get((account, content_type), PerPost(""))
            below.append(
                {
                    **entry,
                    "account_id": account,
                    "platform": labels.get("platform", ""),
                    "content_type": content_type,
                    "per_post": p.er,
                    "band": p.band,
                    "hourly": hourly.get(account, (None, None))[1],
                }
            )
    history.add(readings, previous, seconds)
    return Figures(
        workers=workers,
        top=rates[:ranked],
        bottom=rates[::-1][:ranked],
        below=below,
        unanswered=unanswered,
        unanswered_accounts=sorted(per_account, key=lambda x: -x[2])[:ranked],
        alerts=alerts,
        sparks=history.sparks(),
        prometheus_error=monitoring.prometheus_error,
        alertmanager_error=monitoring.alertmanager_error,
        ranked_by=ranked_by,
        off_track=off_track_posts(readings, alerts),
    )


def status_line(f: Figures, elapsed_s: float) -> str:
    """The plain one-line form (not a terminal): what a log reader needs to see the service work."""
    c, rates = f.count_totals(), f.rate_totals()
    down = [w.url for w in f.workers if w.error is not None]
    line = (
        f"[{elapsed_s:5.0f}s] consumed {c['consumed']:,.0f} ({rates['consumed']:,.0f}/s), counted "
        f"{c['counted']:,.0f}, duplicates {c['duplicate']:,.0f}, rejected {sum(c['rejected'].values()):,.0f}, "
        f"lag {sum(c['lag'].values()):,.0f}, partitions {c['partitions']}, final records "
        f"{c['finals_per_minute']:,.0f}/min, alerts firing {len(f.alerts)}"
    )
    return line + (f"; not answering: {', '.join(down)}" if down else "")
