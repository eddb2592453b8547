"""Post lives and samples in the encodings already in deployed topics (before the curves) still load."""

from __future__ import annotations

from streams.model.aggregates import WindowAggregate
from streams.state.lifetimes import PostLifetimes
from streams.state.lives_format import add_samples, decode_lives, encode_lives

META = ["a1", "instagram", 1_000, "image", "post_record", True]


def test_a_life_encoded_before_the_curves_loads_with_nothing_reached_and_the_new_one_round_trips():
    like = WindowAggregate()
    like.add(0)
    old = [["p1", META, 1_500, 1, like.to_state(), []]]  # six fields: no ``reached``
    life = decode_lives(old)["p1"]
    assert (life.done, life.reached, life.total.counts[0]) == (1, [], 1)
    life.reached = [7]
    assert decode_lives(encode_lives({"p1": life}))["p1"].reached == [7]


def test_samples_before_the_curves_load_beside_new_ones():
    lifetimes = PostLifetimes((10, 20, 40), 20, 100, ("like",))
    add_samples(
        lifetimes, [["a1", "p1", "instagram", "image", 0, 0.02], ["a1", "p2", "instagram", "image", 5, 0.03, [0.01]]]
    )
    assert lifetimes.samples == {
        "a1": [["p1", "instagram", "image", 0, 0.02], ["p2", "instagram", "image", 5, 0.03, [0.01]]]
    }
