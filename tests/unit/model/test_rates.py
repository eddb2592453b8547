"""Unit tests of streams.model.rates against DOMAIN.md's product-decision table (no Kafka).

Expected values are computed here, directly from the input events, never with the engine's helpers.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from streams.contract import TYPE_INDEX
from streams.model.aggregates import WindowAggregate
from streams.model.rates import engagement_rate, rates

DEFAULT_ENGAGED = ("like", "reaction", "comment", "share", "save", "click")
ALL_TYPES = (
    "impression",
    "like",
    "reaction",
    "comment",
    "share",
    "save",
    "click",
    "dwell",
    "follow",
    "unfollow",
    "mention",
    "reply",
)
RATE_KEYS = {
    "er_followers",
    "er_impressions",
    "applause",
    "amplification",
    "conversation",
    "ctr",
    "avg_dwell_ms",
    "sentiment_mean",
    "sentiment_negative_share",
    "follower_growth",
}


def aggregate(events) -> WindowAggregate:
    """events: (type, dwell_ms or None, sentiment or None)."""
    agg = WindowAggregate()
    for type_name, dwell, sentiment in events:
        agg.add(TYPE_INDEX[type_name], dwell, sentiment)
    return agg


def n(type_name: str, count: int):
    return [(type_name, 1000 if type_name == "dwell" else None, None)] * count


# -- the worked example (DOMAIN.md, seed 000): 40 interactions, 2,000 followers -> 2 % ---------------


def test_engagement_rate_worked_example():
    assert engagement_rate(40, 2000) == pytest.approx(0.02)
    assert engagement_rate(40, 2000) * 100 == pytest.approx(2.0)


def test_worked_example_through_rates():
    agg = aggregate(
        n("like", 10)
        + n("comment", 10)
        + n("share", 10)
        + n("click", 10)
        + n("impression", 4000)
        + n("dwell", 3)
        + n("follow", 2)
    )
    r = rates(agg, 2000, DEFAULT_ENGAGED)
    assert set(r) == RATE_KEYS
    assert r["er_followers"] == pytest.approx(0.02)
    assert r["er_impressions"] == pytest.approx(40 / 4000)
    assert r["applause"] == pytest.approx(10 / 2000)
    assert r["amplification"] == pytest.approx(10 / 2000)
    assert r["conversation"] == pytest.approx(10 / 2000)
    assert r["ctr"] == pytest.approx(10 / 4000)
    assert r["avg_dwell_ms"] == pytest.approx(1000.0)
    assert r["follower_growth"] == 2


@pytest.mark.parametrize("followers,rate", [(1, 40.0), (40, 1.0), (4000, 0.01), (3, 40 / 3)])
def test_engagement_rate_other_vectors(followers, rate):
    assert engagement_rate(40, followers) == pytest.approx(rate)


@pytest.mark.parametrize("audience", [0, None])
def test_engagement_rate_null_denominator(audience):
    assert engagement_rate(40, audience) is None
    assert engagement_rate(0, audience) is None


def test_engagement_rate_zero_numerator_is_zero_not_null():
    assert engagement_rate(0, 2000) == 0


# -- nulls: every ratio is None when its denominator is 0 or unknown ----------------------------------

FOLLOWER_RATIOS = ("er_followers", "applause", "amplification", "conversation")


@pytest.mark.parametrize("followers", [0, None])
def test_follower_ratios_null_when_followers_zero_or_unknown(followers):
    agg = aggregate(n("like", 3) + n("reaction", 2) + n("share", 1) + n("comment", 4) + n("impression", 9))
    r = rates(agg, followers, DEFAULT_ENGAGED)
    for key in FOLLOWER_RATIOS:
        assert r[key] is None, key
    # the impression-based ratios do not depend on followers
    assert r["er_impressions"] == pytest.approx(10 / 9)
    assert r["ctr"] == pytest.approx(0.0)


def test_impression_ratios_null_without_impressions():
    agg = aggregate(n("like", 3) + n("click", 2))
    r = rates(agg, 100, DEFAULT_ENGAGED)
    assert r["er_impressions"] is None
    assert r["ctr"] is None
    assert r["er_followers"] == pytest.approx(5 / 100)


def test_dwell_and_sentiment_null_without_their_events():
    agg = aggregate(n("like", 3) + n("impression", 3))
    r = rates(agg, 100, DEFAULT_ENGAGED)
    assert r["avg_dwell_ms"] is None
    assert r["sentiment_mean"] is None
    assert r["sentiment_negative_share"] is None


def test_empty_aggregate():
    r = rates(WindowAggregate(), 100, DEFAULT_ENGAGED)
    assert r == {
        "er_followers": 0.0,
        "er_impressions": None,
        "applause": 0.0,
        "amplification": 0.0,
        "conversation": 0.0,
        "ctr": None,
        "avg_dwell_ms": None,
        "sentiment_mean": None,
        "sentiment_negative_share": None,
        "follower_growth": 0,
    }
    r = rates(WindowAggregate(), None, DEFAULT_ENGAGED)
    assert all(r[k] is None for k in RATE_KEYS - {"follower_growth"})
    assert r["follower_growth"] == 0


def test_zero_numerators_with_known_denominators_are_zero():
    agg = aggregate(n("impression", 5) + n("dwell", 1) + [("comment", None, 0.0)])
    r = rates(agg, 10, ("like",))
    assert r["er_followers"] == 0 and r["er_followers"] is not None
    assert r["er_impressions"] == 0 and r["er_impressions"] is not None
    assert r["applause"] == 0 and r["ctr"] == 0
    assert r["sentiment_negative_share"] == 0


# -- follower growth ------------------------------------------------------------------------------


@pytest.mark.parametrize("follows,unfollows", [(0, 0), (5, 2), (2, 5), (0, 7), (3, 3)])
def test_follower_growth_is_follow_minus_unfollow(follows, unfollows):
    r = rates(aggregate(n("follow", follows) + n("unfollow", unfollows)), 100, DEFAULT_ENGAGED)
    assert r["follower_growth"] == follows - unfollows
    assert isinstance(r["follower_growth"], int)


def test_follower_growth_without_followers_known():
    r = rates(aggregate(n("unfollow", 4)), None, DEFAULT_ENGAGED)
    assert r["follower_growth"] == -4


# -- configurable engaged set ----------------------------------------------------------------------


def test_engaged_set_is_configurable():
    agg = aggregate(n("like", 4) + n("comment", 6) + n("click", 10) + n("impression", 100) + n("save", 5))
    assert rates(agg, 1000, DEFAULT_ENGAGED)["er_followers"] == pytest.approx(25 / 1000)
    assert rates(agg, 1000, ("like",))["er_followers"] == pytest.approx(4 / 1000)
    assert rates(agg, 1000, ("like",))["er_impressions"] == pytest.approx(4 / 100)
    assert rates(agg, 1000, ("like", "comment"))["er_followers"] == pytest.approx(10 / 1000)
    # a type outside the default set can be engaged too
    assert rates(agg, 1000, ("impression",))["er_followers"] == pytest.approx(100 / 1000)
    assert rates(agg, 1000, ())["er_followers"] == 0
    # the set changes only the engaged-based ratios
    a, b = rates(agg, 1000, DEFAULT_ENGAGED), rates(agg, 1000, ("like",))
    for key in ("applause", "amplification", "conversation", "ctr", "follower_growth"):
        assert a[key] == b[key]


# -- sentiment ---------------------------------------------------------------------------------------


def test_sentiment_mean_and_negative_share():
    agg = aggregate(
        [
            ("comment", None, -0.2),
            ("comment", None, -0.21),
            ("mention", None, 0.5),
            ("mention", None, -1.0),
            ("comment", None, 1.0),
            ("comment", None, None),
        ]
    )
    r = rates(agg, 100, DEFAULT_ENGAGED)
    values = [-0.2, -0.21, 0.5, -1.0, 1.0]
    assert r["sentiment_mean"] == pytest.approx(sum(values) / 5)
    assert r["sentiment_negative_share"] == pytest.approx(2 / 5)  # -0.21 and -1.0; -0.2 is not negative


@pytest.mark.parametrize(
    "value,negative", [(-0.2, False), (-0.2000001, True), (-0.19999, False), (-1.0, True), (0.0, False), (1.0, False)]
)
def test_negative_threshold(value, negative):
    r = rates(aggregate([("comment", None, value)]), 100, DEFAULT_ENGAGED)
    assert r["sentiment_negative_share"] == (1.0 if negative else 0.0)
    assert r["sentiment_mean"] == pytest.approx(value)


# -- average dwell --------------------------------------------------------------------------------------


def test_average_dwell():
    agg = aggregate([("dwell", 100, None), ("dwell", 250, None), ("dwell", 0, None), ("like", None, None)])
    assert rates(agg, None, DEFAULT_ENGAGED)["avg_dwell_ms"] == pytest.approx(350 / 3)


def test_average_dwell_fractional():
    agg = aggregate([("dwell", 0.5, None), ("dwell", 1.25, None)])
    assert rates(agg, None, DEFAULT_ENGAGED)["avg_dwell_ms"] == pytest.approx(0.875)


# -- property: rates equal the formulas computed directly from the event list -------------------------

events_strategy = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from([t for t in ALL_TYPES if t not in ("dwell", "comment", "mention")]), st.none(), st.none()
        ),
        st.tuples(st.just("dwell"), st.integers(0, 86_400_000), st.none()),
        st.tuples(
            st.sampled_from(["comment", "mention"]),
            st.none(),
            st.one_of(st.none(), st.floats(-1, 1, allow_nan=False), st.sampled_from([-0.2, -1.0, 1.0])),
        ),
    ),
    max_size=60,
)


def _direct(events, followers, engaged_types):
    count = {t: sum(1 for e in events if e[0] == t) for t in ALL_TYPES}
    engaged = sum(1 for e in events if e[0] in engaged_types)
    impressions = count["impression"]
    dwells = [e[1] for e in events if e[0] == "dwell"]
    sentiments = [e[2] for e in events if e[2] is not None]

    def div(a, b):
        return None if not b else a / b

    return {
        "er_followers": div(engaged, followers),
        "er_impressions": div(engaged, impressions),
        "applause": div(count["like"] + count["reaction"], followers),
        "amplification": div(count["share"], followers),
        "conversation": div(count["comment"], followers),
        "ctr": div(count["click"], impressions),
        "avg_dwell_ms": div(sum(dwells), len(dwells)),
        "sentiment_mean": div(sum(sentiments), len(sentiments)),
        "sentiment_negative_share": div(sum(1 for s in sentiments if s < -0.2), len(sentiments)),
        "follower_growth": count["follow"] - count["unfollow"],
    }


@settings(max_examples=300, deadline=None)
@given(
    events=events_strategy,
    followers=st.one_of(st.none(), st.just(0), st.integers(1, 10_000_000)),
    engaged_types=st.lists(st.sampled_from(ALL_TYPES), unique=True).map(tuple),
)
def test_rates_match_formulas(events, followers, engaged_types):
    got = rates(aggregate(events), followers, engaged_types)
    want = _direct(events, followers, engaged_types)
    assert set(got) == set(want)
    for key, value in want.items():
        if value is None:
            assert got[key] is None, key
        else:
            assert got[key] is not None, key
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert got["follower_growth"] == want["follower_growth"]
    for key in (
        "er_followers",
        "er_impressions",
        "applause",
        "amplification",
        "conversation",
        "ctr",
        "sentiment_negative_share",
    ):
        assert got[key] is None or got[key] >= 0
    if got["sentiment_mean"] is not None:
        assert -1 - 1e-9 <= got["sentiment_mean"] <= 1 + 1e-9
