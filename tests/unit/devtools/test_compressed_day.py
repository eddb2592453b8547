"""`make run`'s compressed day: every horizon of the model day shrinks by the same factor, the
machinery's wall-clock knobs do not, and the rules' durations follow (with floors)."""

from __future__ import annotations

import dataclasses

from streams.devtools.compressed_day import CompressedDay
from streams.devtools.prometheus import PROMETHEUS_DIR
from streams.settings import Settings
from streams.simulator import TrafficModel

HOUR, DAY = 3600, 86400


def test_a_day_in_two_minutes_scales_every_horizon_of_the_day_by_720():
    real = Settings()
    compressed = dataclasses.replace(real, **CompressedDay(120).settings(real))
    # DOMAIN.md's horizons, each / 720: maturity 24 h, SLAs 12 h and 24 h, the record ages
    # 1 h, 24 h, 7 days; the benchmark period 7 days; a 3-day retention; the rolling hour.
    assert compressed.post_maturity_seconds == 120
    assert (compressed.mention_acknowledge_sla_seconds, compressed.mention_resolve_sla_seconds) == (60, 120)
    assert compressed.mention_retention_seconds == 360
    assert compressed.post_lifetime_ages_seconds == ("5", "120", "840")
    assert compressed.post_lifetime_seconds == compressed.benchmark_period_seconds == 840
    assert compressed.early_warning_first_check_seconds == 5
    assert compressed.rolling_window_seconds == 5
    assert compressed.window_seconds == 1  # a minute is 1/12 s: the shortest window is a second
    # 300 s / 720 would reject as late the simulator's events up to 2 s out of order.
    assert compressed.window_grace_seconds == 3
    assert compressed.simulate_day_seconds == 120
    assert compressed.simulate_reply_delay_scale == 1 / 720
    # The machinery keeps its wall clock.
    for name in ("commit_interval_seconds", "snapshot_interval_seconds", "dedup_horizon_seconds"):
        assert getattr(compressed, name) == getattr(real, name), name


def test_what_the_environment_set_is_compressed_too():
    base = Settings(post_maturity_seconds=12 * HOUR, post_lifetime_ages_seconds=("3600", "43200", "604800"))
    compressed = dataclasses.replace(base, **CompressedDay(120).settings(base))
    assert compressed.post_maturity_seconds == 60
    assert compressed.post_lifetime_ages_seconds == ("5", "60", "840")


def test_the_scenarios_fall_on_the_accounts_that_show_them_soonest_at_ten_times_the_rate():
    real = Settings()
    compressed = dataclasses.replace(real, **CompressedDay(120).settings(real))
    assert compressed.simulate_rate == 2000
    model = TrafficModel(real.simulate_seed, real.simulate_accounts, rate=2000)
    collapsed, crisis = compressed.simulate_collapse_account, compressed.simulate_crisis_account
    collapsing = compressed.simulate_collapsing_account
    assert model.posts_per_day[collapsed] == max(model.posts_per_day.values())
    others = {a: model.post_event_rate[a] for a in model.account_ids if a != collapsed}
    assert others[crisis] == max(others.values())
    # Events per post (rate / posts per second), among the accounts left posting 10 times a day or more.
    per_post = {
        a: model.post_event_rate[a] * 120 / model.posts_per_day[a]
        for a in others
        if a != crisis and model.posts_per_day[a] >= 10
    }
    assert per_post[collapsing] == max(per_post.values())
    assert compressed.simulate_collapsing_posts == 0.2
    assert len({collapsed, crisis, collapsing}) == 3


def test_the_rules_durations_are_compressed_with_floors():
    day = CompressedDay(120)
    alerts = day.rules((PROMETHEUS_DIR / "rules" / "engagement-alerts.yml").read_text())
    holds = [line.split("#")[0].strip() for line in alerts.splitlines() if line.strip().startswith("for:")]
    # 30 m / 720 = 2.5 s and 15 m / 720 = 1.25 s: floored to 10 s; 0 m stays 0.
    assert set(holds) == {"for: 10s", "for: 0s"}
    assert "[5m]" in alerts  # the pipeline alerts' rate window is wall clock
    recording = day.rules((PROMETHEUS_DIR / "rules" / "engagement-recording.yml").read_text())
    assert "[840s])  # tunable: baseline range" in recording  # 7 days / 720
    # The spike window (1 h / 720 = 5 s) floors at 30 s, its baseline is 12 h / 720 = 60 s before it,
    # and the history a baseline needs is their sum.
    assert "[30s])  # tunable: spike window" in recording
    assert "[60s] offset 30s)  # tunable: spike baseline" in recording
    assert "offset 90s  # tunable: spike history" in recording
    assert "[7d]" not in recording and "[1h]" not in recording and "13h" not in recording
