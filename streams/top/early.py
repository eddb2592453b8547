"""`engagement top`'s line of young posts off track (DOMAIN.md, early warning): the firing PostOffTrack
alerts, each with its projected ER at maturity and the band's low bound as the workers export them."""

from __future__ import annotations

from .sources import WorkerReading

OFF_TRACK_ALERT = "PostOffTrack"
SHOWN = 5  # posts named on the line, the lowest projections first


def off_track_posts(readings: list[WorkerReading], alerts: list[dict]) -> list[dict]:
    """``alerts``: the active alerts as ``figures`` lists them ({"alert", "labels", ...})."""
    exported: dict[str, dict] = {}
    for reading in readings:
        if reading.metrics is None:
            continue
        for name, key in (
            ("engagement_post_projected_rate_ratio", "projected"),
            ("engagement_post_benchmark_low_ratio", "band_low"),
        ):
            for labels, value in reading.metrics.series(name):
                exported.setdefault(labels["post_id"], {})[key] = value
    posts = []
    for alert in alerts:
        if alert["alert"] != OFF_TRACK_ALERT:
            continue
        labels = alert["labels"]
        figures = exported.get(labels.get("post_id", ""), {})
        posts.append(
            {
                "post_id": labels.get("post_id", ""),
                "account_id": labels.get("account_id", ""),
                "platform": labels.get("platform", ""),
                "content_type": labels.get("content_type", ""),
                "projected": figures.get("projected"),
                "band_low": figures.get("band_low"),
            }
        )
    return sorted(posts, key=lambda p: (p["projected"] is None, p["projected"] or 0.0, p["post_id"]))


def off_track_line(posts: list[dict]) -> str:
    if not posts:
        return "posts off track (PostOffTrack): none"
    named = "; ".join(
        f"{p['post_id']} of {p['account_id']} ({p['platform']}, {p['content_type']}) projected "
        f"{_pct(p['projected'])} < {_pct(p['band_low'])}"
        for p in posts[:SHOWN]
    )
    more = f"; {len(posts) - SHOWN} more" if len(posts) > SHOWN else ""
    return f"posts off track (PostOffTrack): {len(posts)}: {named}{more}"


def _pct(value: float | None) -> str:
    return "?" if value is None else f"{value * 100:.2f} %"
