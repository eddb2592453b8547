"""The benchmark's pure helpers (the benchmark itself is `make bench`, never part of `make test`)."""

from __future__ import annotations

import pytest

from streams.devtools.bench.figures import (accounting, add_accounting, evaluate_targets, median_run, parse_exposition,
                                            percentile, rates_from_samples, summarize)
from streams.devtools.bench.profile import summarize_profile
from streams.devtools.bench.workload import BATCH_EVENTS, batch_by_account


def test_percentile_interpolates_between_closest_ranks():
    values = [5, 1, 4, 2, 3]
    assert percentile(values, 0) == 1
    assert percentile(values, 50) == 3
    assert percentile(values, 100) == 5
    assert percentile(values, 25) == 2
    assert percentile([10, 20], 99) == pytest.approx(19.9)
    assert percentile([7], 99) == 7
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_summarize():
    assert summarize(range(1, 101)) == {"n": 100, "p50": 50.5, "p99": 99.0, "max": 100}
    assert summarize([]) == {"n": 0, "p50": None, "p99": None, "max": None}


def test_accounting_from_the_exposition():
    body = b"""# HELP engagement_events_consumed_total x
engagement_events_consumed_total 12.0
engagement_events_counted_total 9.0
engagement_events_duplicate_total 1.0
engagement_events_rejected_total{reason="late"} 2.0
engagement_events_rejected_total{reason="schema:ts"} 0.0
engagement_partitions_assigned 4.0
"""
    one = accounting(parse_exposition(body))
    assert one == {"consumed": 12, "counted": 9, "duplicate": 1, "rejected": 2,
                   "rejected_by_reason": {"late": 2}, "forwarded": 0, "partitions": 4}
    both = add_accounting([one, one])
    assert (both["counted"], both["rejected"], both["rejected_by_reason"], both["partitions"]) == \
        (18, 4, {"late": 4}, 8)


def test_rates_from_samples():
    samples = [(0.5, 0), (1.0, 0), (1.5, 1000), (2.0, 6000), (2.5, 11000)]
    rates = rates_from_samples(samples, 11000, 2.5)
    assert rates["events_per_s"] == 4400
    assert rates["startup_seconds"] == 1.5
    assert rates["steady_events_per_s"] == 10000
    assert rates_from_samples([(0.5, 100)], 100, 0.5)["steady_events_per_s"] is None


def test_batches_hold_n_events_of_one_account_and_every_event_is_sent():
    events = [{"account_id": f"a{i % 3}", "n": i} for i in range(1000)]
    batches = list(batch_by_account(events, BATCH_EVENTS))
    assert [len(b) for b in batches] == [BATCH_EVENTS] * 9 + [34, 33, 33]  # remainders last
    for batch in batches:
        assert len({e["account_id"] for e in batch}) == 1
    assert sorted(e["n"] for b in batches for e in b) == list(range(1000))


def test_profile_summary_of_collapsed_stacks():
    raw = ("main (/x/streams/cli.py:1);_process (/x/site-packages/streams/engine.py:190);"
           "add (/x/site-packages/streams/state.py:101) 30\n"
           "main (/x/streams/cli.py:1);_process (/x/site-packages/streams/engine.py:190) 10\n"
           "main (/x/streams/cli.py:1);getmany (/x/site-packages/aiokafka/consumer/consumer.py:1100) 60\n"
           "main (/x/streams/cli.py:1);EpollSelector.select (/usr/lib/python3.11/selectors.py:451) 100\n")
    summary = summarize_profile(raw)
    assert summary["samples"] == 200
    assert summary["idle_pct"] == 50.0  # shares below are of the busy samples
    assert summary["self"][0] == ["getmany (aiokafka/consumer/consumer.py:1100)", 60.0]
    assert ["_process (streams/engine.py:190)", 40.0] in summary["inclusive"]
    assert summary["by_package"]["aiokafka"] == 60.0


def test_targets_are_evaluated_not_lowered():
    targets = evaluate_targets({"single_1w_events_per_s": 19_999, "peak_rss_mb": 400})
    assert targets["single_1w_events_per_s"]["met"] is False
    assert targets["peak_rss_mb"]["met"] is True
    assert targets["final_record_max_s"]["met"] is None


def test_median_run_reports_the_middle_run_and_keeps_every_figure():
    runs = [{"events_per_s": 90, "steady_events_per_s": 95, "peak_rss_mb": [300.0]},
            {"events_per_s": 70, "steady_events_per_s": 80, "peak_rss_mb": [390.0, 120.0], "profile": {"samples": 5}},
            {"events_per_s": 80, "steady_events_per_s": 99, "peak_rss_mb": [310.0]}]
    chosen = median_run(runs)
    assert chosen["events_per_s"] == 80 and chosen["steady_events_per_s"] == 99
    assert chosen["repeats_events_per_s"] == [90, 70, 80]
    assert chosen["repeats_steady_events_per_s"] == [95, 80, 99]
    assert chosen["repeats_peak_rss_mb"] == [300.0, 390.0, 310.0]
    assert chosen["profile"] == {"samples": 5}
    assert median_run(runs[:2])["events_per_s"] == 70  # even count: the lower middle
