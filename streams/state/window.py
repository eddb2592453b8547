"""Window lengths and the close rule: a tumbling window [start, end) is final once end + grace has
passed; the rolling window spans the tumbling buckets of its length and steps once per window."""

from __future__ import annotations

from dataclasses import dataclass

DEDUP_BUCKETS = 15  # the dedup horizon in buckets: ids expire a bucket at a time, at most 1/15 late


@dataclass(frozen=True)
class WindowConfig:
    window_ms: int
    grace_ms: int
    rolling_ms: int
    dedup_ms: int
    engaged_types: tuple[str, ...]
    snapshot_ms: int = 60_000
    acknowledge_ms: int = 43_200_000  # the listening SLAs and how long an open mention is kept
    resolve_ms: int = 86_400_000
    mention_retention_ms: int = 259_200_000
    reply_resolves: bool = False  # producers that send no resolve events: a reply closes its mention
    # Post lifetimes: the ages (ms, ascending, the last = the lifetime) of the lifetime records, the
    # maturity age (one of them) and the benchmark period.
    post_ages_ms: tuple[int, ...] = (3_600_000, 86_400_000, 604_800_000)
    maturity_ms: int = 86_400_000
    benchmark_period_ms: int = 604_800_000

    @classmethod
    def from_settings(cls, settings) -> WindowConfig:
        return cls(
            window_ms=int(settings.window_seconds * 1000),
            grace_ms=int(settings.window_grace_seconds * 1000),
            rolling_ms=int(settings.rolling_window_seconds * 1000),
            dedup_ms=int(settings.dedup_horizon_seconds * 1000),
            engaged_types=tuple(settings.engaged_types),
            snapshot_ms=int(settings.snapshot_interval_seconds * 1000),
            acknowledge_ms=int(settings.mention_acknowledge_sla_seconds * 1000),
            resolve_ms=int(settings.mention_resolve_sla_seconds * 1000),
            mention_retention_ms=int(settings.mention_retention_seconds * 1000),
            reply_resolves=settings.mention_resolved_by == "reply",
            **post_ages(settings),
        )

    def close_mark(self, now_ms: int) -> int:
        """The latest window end whose grace has passed at ``now_ms``."""
        edge = now_ms - self.grace_ms
        return edge - edge % self.window_ms

    @property
    def lifetime_ms(self) -> int:
        return self.post_ages_ms[-1]

    @property
    def dedup_bucket_ms(self) -> int:
        return max(1000, self.dedup_ms // DEDUP_BUCKETS)

    @property
    def window_label(self) -> str:
        return duration_label(self.window_ms)

    @property
    def rolling_label(self) -> str:
        return duration_label(self.rolling_ms)


def post_ages(settings) -> dict:
    """The lifetime record ages from the settings: the configured ones, the maturity and the lifetime,
    ascending; an age past the lifetime, or a maturity past it, is a configuration error."""
    lifetime = int(settings.post_lifetime_seconds * 1000)
    maturity = int(settings.post_maturity_seconds * 1000)
    try:
        ages = {int(float(age) * 1000) for age in settings.post_lifetime_ages_seconds}
    except ValueError:
        raise ValueError(
            f"ENGAGEMENT_POST_LIFETIME_AGES_SECONDS: not a list of seconds: "
            f"{','.join(settings.post_lifetime_ages_seconds)!r}"
        ) from None
    for name, value in (
        ("ENGAGEMENT_POST_LIFETIME_AGES_SECONDS", max(ages, default=0)),
        ("ENGAGEMENT_POST_MATURITY_SECONDS", maturity),
    ):
        if value > lifetime:
            raise ValueError(
                f"{name}: {value / 1000:g} s is past ENGAGEMENT_POST_LIFETIME_SECONDS ({lifetime / 1000:g} s)"
            )
    if min(ages | {maturity}) <= 0:
        raise ValueError("post ages and the maturity must be > 0 s")
    return {
        "post_ages_ms": tuple(sorted(ages | {maturity, lifetime})),
        "maturity_ms": maturity,
        "benchmark_period_ms": int(settings.benchmark_period_seconds * 1000),
    }


def duration_label(ms: int) -> str:
    seconds = ms // 1000
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
