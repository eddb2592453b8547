"""The screen of `engagement top`: three panels (pipeline, marketing, alerts) built with rich from the
figures of one refresh."""

from __future__ import annotations

import time

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .early import off_track_line
from .figures import Figures

BLOCKS = " ▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    top = max(values, default=0.0)
    if top <= 0:
        return BLOCKS[0] * len(values)
    return "".join(BLOCKS[min(len(BLOCKS) - 1, round(v / top * (len(BLOCKS) - 1)))] for v in values)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def _band(band: dict | None) -> str:
    if not band:
        return "-"
    return f"{_pct(band.get('low'))} .. {_pct(band.get('high'))}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def _partitions(partitions: list[int]) -> str:
    return f"{len(partitions)}: {','.join(map(str, partitions))}" if partitions else "none"


def _closed(seconds: float | None) -> str:
    if seconds is None:
        return "none yet"
    return f"{time.strftime('%H:%M:%S', time.localtime(seconds))} ({time.time() - seconds:.0f} s ago)"


def pipeline(f: Figures) -> Group:
    table = Table(expand=True, box=None, header_style="bold")
    for column in (
        "worker",
        "partitions",
        "consumed/s",
        "counted/s",
        "dup/s",
        "rejected/s",
        "late/s",
        "lag",
        "finals/min",
    ):
        table.add_column(
            column, justify="left" if column in ("worker", "partitions") else "right", no_wrap=True, overflow="ellipsis"
        )
    details = Text()
    for w in f.workers:
        name = w.url.removeprefix("http://")
        if w.error is not None:
            table.add_row(Text(name, style="bold"), Text(w.error, style="red"), *[""] * 7)
            continue
        table.add_row(
            Text(name, style="bold"),
            _partitions(w.partitions),
            f"{w.rates['consumed']:,.0f}",
            f"{w.rates['counted']:,.0f}",
            f"{w.rates['duplicate']:,.0f}",
            f"{w.rates['rejected']:,.0f}",
            f"{w.rates['late']:,.0f}",
            f"{sum(w.lag.values()):,.0f}",
            f"{w.finals_per_minute:,.0f}",
        )
        details.append(
            f"{name}: last commit {_seconds(w.commit_seconds)}, last restore {_seconds(w.restore_seconds)}, "
            f"latest window closed {_closed(w.closed_through_s)}\n"
        )
    return Group(table, details)


def totals(f: Figures) -> Text:
    c = f.count_totals()
    text = Text(
        f"totals: consumed {c['consumed']:,.0f}  counted {c['counted']:,.0f}  duplicates "
        f"{c['duplicate']:,.0f}  late {c['late']:,.0f}  rejected "
    )
    text.append(", ".join(f"{r} {n:,.0f}" for r, n in sorted(c["rejected"].items())) or "0")
    text.append("\nlag per partition: " + ("  ".join(f"p{p} {n:,.0f}" for p, n in sorted(c["lag"].items())) or "-"))
    return text


RANKED_TITLES = {
    "per_post": "accounts by ER per post against its band (hourly: the rolling ER)",
    "hourly": "ranked by the hourly rolling ER: ER per post and bands need --prometheus",
}


def _ranked_cells(r) -> tuple[str, str, str, str]:
    if r is None:
        return "", "", "", ""
    return f"{r.account_id} ({r.platform})", _pct(r.per_post), _band(r.band), _pct(r.hourly)


def marketing(f: Figures) -> Group:
    below = Table(title="below benchmark / baseline (firing)", expand=True, box=None, header_style="bold")
    for column in ("alert", "account", "platform", "posts", "ER per post", "band (per post)", "ER hourly"):
        below.add_column(column)
    for a in f.below:
        below.add_row(
            a["alert"],
            a["account_id"],
            a["platform"],
            a["content_type"],
            _pct(a["per_post"]),
            _band(a["band"]),
            _pct(a["hourly"]),
        )
    if not f.below:
        below.add_row("none", *[""] * 6)
    ranked = Table(title=RANKED_TITLES[f.ranked_by], expand=True, box=None, header_style="bold")
    # The figures keep their width; an account name is cut short first on a narrow terminal.
    for column, width in (
        ("top", None),
        ("ER/post", 7),
        ("band", 16),
        ("hourly", 6),
        ("bottom", None),
        ("ER/post", 7),
        ("band", 16),
        ("hourly", 6),
    ):
        ranked.add_column(column, no_wrap=True, overflow="ellipsis", min_width=width)
    for i in range(max(len(f.top), len(f.bottom))):
        ranked.add_row(
            *_ranked_cells(f.top[i] if i < len(f.top) else None),
            *_ranked_cells(f.bottom[i] if i < len(f.bottom) else None),
        )
    waiting = None
    if not f.top:
        waiting = Text(
            "none yet: an account has an ER per post once one of its posts has reached the maturity age"
            if f.ranked_by == "per_post"
            else "none yet: accounts are ranked once a rolling window has been counted whole"
        )
    past = "  ".join(f"past {sla} {n:,.0f}" for sla, n in sorted(f.unanswered.items()))
    mentions = Text("unanswered mentions: " + (past or "none past the SLAs"))
    for account, sla, n in f.unanswered_accounts:
        mentions.append(f"\n  {account} past {sla}: {n:,.0f}")
    sparks = Table(title="interactions/s by platform and type", expand=True, box=None, header_style="bold")
    sparks.add_column("platform", no_wrap=True)
    sparks.add_column("total/s", justify="right", no_wrap=True)
    sparks.add_column("history", no_wrap=True)
    sparks.add_column("by type (now, /s)", overflow="fold")
    for platform, (total, by_type) in _by_platform(f.sparks).items():
        sparks.add_row(
            platform,
            f"{total[-1]:,.0f}",
            sparkline(total),
            "  ".join(f"{t} {v:,.0f}" for t, v in sorted(by_type.items(), key=lambda tv: -tv[1]) if v),
        )
    parts: list[RenderableType] = [
        below,
        Text(off_track_line(f.off_track)),
        ranked,
        *([waiting] if waiting else []),
        mentions,
        sparks,
    ]
    if f.prometheus_error:
        parts.insert(0, Text(f"Prometheus: {f.prometheus_error} (ER per post and bands not shown)", style="red"))
    return Group(*parts)


def _by_platform(sparks: dict[str, list[float]]) -> dict[str, tuple[list[float], dict[str, float]]]:
    """platform -> (its total interactions/s history, the latest rate of each type)."""
    out: dict[str, tuple[list[float], dict[str, float]]] = {}
    for key, values in sparks.items():
        platform, _, type_ = key.partition("/")
        total, by_type = out.setdefault(platform, ([], {}))
        if len(values) > len(total):  # a type seen for fewer refreshes: aligned on the latest
            total[:0] = [0.0] * (len(values) - len(total))
        for i, v in enumerate(values, start=len(total) - len(values)):
            total[i] += v
        by_type[type_] = values[-1] if values else 0.0
    return out


def alerts(f: Figures) -> Group | Text:
    if f.alertmanager_error:
        return Text(f"Alertmanager: {f.alertmanager_error}", style="red")
    if not f.alerts:
        return Text("no alert firing")
    table = Table(expand=True, box=None, header_style="bold")
    for column in ("alert", "severity", "receiver", "labels"):
        table.add_column(column)
    for a in sorted(f.alerts, key=lambda a: (a["severity"] != "critical", a["alert"])):
        labels = ", ".join(
            f"{k}={v}" for k, v in sorted(a["labels"].items()) if k not in ("alertname", "severity", "service", "team")
        )
        table.add_row(a["alert"], a["severity"], ", ".join(a["receivers"]), labels)
    return Group(table)


def screen(f: Figures, title: str, show_alerts: bool) -> Group:
    parts = [Panel(Group(pipeline(f), totals(f)), title=f"pipeline · {title}"), Panel(marketing(f), title="marketing")]
    if show_alerts:
        parts.append(Panel(alerts(f), title="alerts (Alertmanager)"))
    return Group(*parts)
