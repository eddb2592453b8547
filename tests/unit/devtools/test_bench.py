"""The benchmark's pure helpers (the benchmark itself is `make bench`, never part of `make test`)."""

from __future__ import annotations

import pytest

from streams.devtools.bench.figures import (
    accounting,
    add_accounting,
    evaluate_targets,
    median_run,
    parse_exposition,
    percentile,
    rates_from_samples,
    summarize,
)
from streams.devtools.bench.profile import summarize_profile
from streams.devtools.bench.report import CEILING_WHAT, PIPELINE_WHAT, peer_table, plot
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
    assert one == {
        "consumed": 12,
        "counted": 9,
        "duplicate": 1,
        "rejected": 2,
        "rejected_by_reason": {"late": 2},
        "forwarded": 0,
        "partitions": 4,
    }
    both = add_accounting([one, one])
    assert (both["counted"], both["rejected"], both["rejected_by_reason"], both["partitions"]) == (
        18,
        4,
        {"late": 4},
        8,
    )


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
    raw = (
        "main (/x/streams/cli.py:1);_process (/x/site-packages/streams/engine.py:190);"
        "add (/x/site-packages/streams/state.py:101) 30\n"
        "main (/x/streams/cli.py:1);_process (/x/site-packages/streams/engine.py:190) 10\n"
        "main (/x/streams/cli.py:1);getmany (/x/site-packages/aiokafka/consumer/consumer.py:1100) 60\n"
        "main (/x/streams/cli.py:1);EpollSelector.select (/usr/lib/python3.11/selectors.py:451) 100\n"
    )
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
    runs = [
        {"events_per_s": 90, "steady_events_per_s": 95, "peak_rss_mb": [300.0]},
        {"events_per_s": 70, "steady_events_per_s": 80, "peak_rss_mb": [390.0, 120.0], "profile": {"samples": 5}},
        {"events_per_s": 80, "steady_events_per_s": 99, "peak_rss_mb": [310.0]},
    ]
    chosen = median_run(runs)
    assert chosen["events_per_s"] == 80 and chosen["steady_events_per_s"] == 99
    assert chosen["repeats_events_per_s"] == [90, 70, 80]
    assert chosen["repeats_steady_events_per_s"] == [95, 80, 99]
    assert chosen["repeats_peak_rss_mb"] == [300.0, 390.0, 310.0]
    assert chosen["profile"] == {"samples": 5}
    assert median_run(runs[:2])["events_per_s"] == 70  # even count: the lower middle


def _result_with_peers() -> dict:
    """A small result as `make bench` writes it: 1 and 2 workers, the ceiling and two peers on the single topic."""
    return {
        "started_at": "2026-12-02T06:47:38Z",
        "workload": {"events": 1000},
        "machine": {"cores": 2, "python": "3.11.7", "kafka_version": "4.1.1"},
        "freshness": {"rate_target": 5000, "cdf_ms": {"quantiles": [50, 99], "api": [12.0, 40.0]}},
        "ceiling": {
            "single": {
                "events": 1000,
                "events_per_s": 240000,
                "steady_events_per_s": 300000,
                "repeats_events_per_s": [230000, 240000, 250000],
            }
        },
        "pipeline": {
            "single": {
                "1": {
                    "events": 1000,
                    "events_per_s": 12000,
                    "steady_events_per_s": 15000,
                    "cpu_us_per_event": 40.5,
                    "peak_rss_mb": [130.4],
                    "repeats_events_per_s": [13500, 11000, 12000],
                },
                "2": {
                    "events": 1000,
                    "events_per_s": 16000,
                    "steady_events_per_s": 21000,
                    "cpu_us_per_event": 52.0,
                    "peak_rss_mb": [100.0, 101.5],
                    "repeats_events_per_s": [16000, 15000, 17000],
                },
            }
        },
        "peers": {
            "quix-exactly-once": {
                "events": 1000,
                "events_per_s": 8000,
                "steady_events_per_s": None,
                "cpu_us_per_event": 1234.5,
                "peak_rss_mb": 118.5,
                "repeats_events_per_s": [8000],
                "what": "Quix Streams 3.28.1, exactly-once: JSON values, count per key",
            },
            "faust-agent": {
                "events": 500,
                "events_per_s": 3000,
                "steady_events_per_s": 3500,
                "cpu_us_per_event": 310.0,
                "peak_rss_mb": 83.9,
                "repeats_events_per_s": [3000, 2900, 3100],
                "what": "faust | agent: table[key] += 1",
            },
        },
    }


def test_peer_table_has_a_row_per_system_with_ours_divided_by_its_rate():
    rows = peer_table(_result_with_peers()).splitlines()
    assert rows[0].startswith("| system | what it does | events/s from spawn")
    assert rows[2:] == [
        f"| this pipeline, 1 worker | {PIPELINE_WHAT} | 12,000 (13,500; 11,000; 12,000) | 15,000 | 40.5 "
        "| 130.4 | 1.00 |",
        f"| this pipeline, 2 workers | {PIPELINE_WHAT} | 16,000 (16,000; 15,000; 17,000) | 21,000 | 52.0 "
        "| 100.0 + 101.5 | 0.75 |",
        "| quix-exactly-once | Quix Streams 3.28.1, exactly-once | 8,000 | – | 1,234.5 | 118.5 | 1.50 |",
        "| faust-agent | faust \\| agent (500 events) | 3,000 (3,000; 2,900; 3,100) | 3,500 | 310.0 | 83.9 | 4.00 |",
        f"| ceiling | {CEILING_WHAT} | 240,000 (230,000; 240,000; 250,000) | 300,000 | – | – | 0.05 |",
    ]


def test_peer_table_of_a_result_without_peers_has_the_pipeline_and_the_ceiling():
    result = _result_with_peers()
    del result["peers"]
    assert [row.split(" | ")[0] for row in peer_table(result).splitlines()[2:]] == [
        "| this pipeline, 1 worker",
        "| this pipeline, 2 workers",
        "| ceiling",
    ]
    assert peer_table({}).splitlines()[2:] == []  # a scale result: no throughput runs at all


def _png_size(path) -> tuple[int, int]:
    header = path.read_bytes()[16:24]  # the IHDR chunk's width and height
    return int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")


def test_plot_adds_the_peers_panel_only_when_the_result_has_peers(tmp_path):
    pytest.importorskip("matplotlib")
    with_peers, without = _result_with_peers(), _result_with_peers()
    del without["peers"]
    plot(with_peers, tmp_path / "peers.png")
    plot(without, tmp_path / "old.png")
    (width, height), (old_width, old_height) = _png_size(tmp_path / "peers.png"), _png_size(tmp_path / "old.png")
    assert width == old_width and height == 2 * old_height  # a second row under the two panels it always had
