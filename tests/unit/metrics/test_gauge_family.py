"""streams.metrics.gauge_family.GaugeFamily: the exposition of a prometheus_client ``Gauge`` with a child
per series, series for series and byte for byte, across rebuilds that keep, change, add and remove
series; and a series' memory, a small part of a ``Gauge`` child's."""

from __future__ import annotations

import gc
import random
import tracemalloc

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from streams.metrics.gauge_family import GaugeFamily
from tests.unit.metrics.gauge_reference import Reference

LABELS = ["account_id", "platform", "content_type"]
HELP = 'Share of the ER "at maturity" \\ reached\nby age'  # quotes, a backslash, a newline: escaped alike


def rebuilds(seed: int, rounds: int) -> list[dict]:
    """Desired series of successive rebuilds: each keeps some series (changed or not), drops some, adds
    some; values of every kind the text writes differently (ints, floats, 0, negatives, inf, NaN)."""
    rng = random.Random(seed)
    accounts = [f"acct-{i}" for i in range(40)] + ['we"ird\\acct\nname']
    values = [0, 3, -1.5, 0.0173, 1e-9, 123456789.0, float("inf"), float("-inf"), float("nan")]
    out = []
    for _ in range(rounds):
        chosen = rng.sample(accounts, 25)
        out.append(
            {
                (a, rng.choice(["instagram", "x"]), rng.choice(["image", "reel", "video"])): rng.choice(values)
                for a in chosen
            }
        )
    return out


def test_exposition_equals_a_gauge_with_children_across_rebuilds_and_removals():
    ours, ref = CollectorRegistry(), Reference()
    family = GaugeFamily("engagement_x_ratio", HELP, LABELS, ours)
    ref.gauge("engagement_x_ratio", HELP, LABELS)
    assert generate_latest(ours) == ref.text()  # no series yet: HELP and TYPE only
    for desired in rebuilds(seed=7, rounds=6):
        family.publish(desired)
        ref.publish("engagement_x_ratio", desired)
        assert generate_latest(ours) == ref.text()
    published = ref.published["engagement_x_ratio"]
    kept = {labels: value for labels, value in published.items() if labels[1] != "x"}
    assert kept and len(kept) < len(published)
    family.remove_where(lambda labels: labels[1] == "x")
    ref.publish("engagement_x_ratio", kept)
    assert generate_latest(ours) == ref.text()
    family.publish({})
    ref.publish("engagement_x_ratio", {})
    assert generate_latest(ours) == ref.text()
    assert b"acct" not in generate_latest(ours)


def test_a_series_keeps_its_place_while_it_stays_and_a_new_one_comes_last():
    registry = CollectorRegistry()
    family = GaugeFamily("engagement_y", "y", ["account_id"], registry)
    family.publish({("a",): 1, ("b",): 2, ("c",): 3})
    family.publish({("d",): 4, ("c",): 30, ("a",): 10})  # b gone; a and c stay where they were
    lines = [line for line in generate_latest(registry).decode().splitlines() if not line.startswith("#")]
    assert lines == [
        'engagement_y{account_id="a"} 10.0',
        'engagement_y{account_id="c"} 30.0',
        'engagement_y{account_id="d"} 4.0',
    ]


def test_a_family_name_registered_twice_is_refused_as_for_a_gauge():
    registry = CollectorRegistry()
    GaugeFamily("engagement_z", "z", ["account_id"], registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Gauge("engagement_z", "z", ["account_id"], registry=registry)


def held_bytes_per_series(publish, series: int) -> float:
    """Bytes that stay allocated once ``publish`` has set ``series`` series of 4 labels each (the
    label strings exist before, as they do in the worker: they are the state's)."""
    accounts = [f"account-{i:05d}" for i in range(series // 4)]
    content_types = ["all", "image", "reel", "video"]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        publish(
            {
                (a, "instagram", "retail", c): 0.01 + i / series
                for i, (a, c) in enumerate((a, c) for a in accounts for c in content_types)
            }
        )
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - before) / series
    finally:
        tracemalloc.stop()


# A series' own memory: its label tuple (4 references: 88 B), its float (24 B) and its slot in the
# dict (a 24 B entry and its index, up to twice that just after the table grows): 130..190 B. A
# prometheus_client Gauge child (an object, a lock, a MutableValue, its entry in _metrics, label
# tuples) holds 700..860 B (measured). 200 B leaves room for the first, not the second.
BYTES_PER_SERIES = 200


def test_a_series_holds_at_most_200_bytes():
    family = GaugeFamily(
        "engagement_w_ratio", "w", ["account_id", "platform", "industry", "content_type"], CollectorRegistry()
    )
    assert held_bytes_per_series(family.publish, 8000) <= BYTES_PER_SERIES
