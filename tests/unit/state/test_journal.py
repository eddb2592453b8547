"""The state journal's format (streams.state.journal), no Kafka: what ``encode`` writes for a commit
(keys present only when they carry something, the marks always), ``decode`` giving back every part
of it after a trip through JSON, ``chunks`` splitting a large entry into messages of at most
CHUNK_KEYS window keys (under the broker's message size) each decodable, the sequence number in
each and the marks in the last one only, and the entry ``decode`` refuses: one without its ``q``.

The expected entries are written out here from the buckets each test builds."""

from __future__ import annotations

import orjson
import pytest

from streams.contract import TYPE_INDEX
from streams.model.aggregates import WindowAggregate
from streams.state.entries import AccountEntry, PostEntry
from streams.state.journal import CHUNK_KEYS, chunks, decode, encode, encode_windows
from tests.fixtures.state import B0, G, W

LIKE, COMMENT, SHARE, DWELL = (TYPE_INDEX[t] for t in ("like", "comment", "share", "dwell"))
MESSAGE_BYTES = 1_048_588  # the broker's default max.message.bytes
SEEN = (B0 + 7, bytes(range(16)))  # (arrival ms, the fingerprints of the ids first seen)


def aggregate(*adds, posts: bool = False, responses: list[int] | None = None) -> WindowAggregate:
    agg = WindowAggregate(track_posts=posts)
    for add in adds:
        agg.add(*add)
    agg.responses = responses
    return agg


def buckets():
    """Two post windows and an account window with every part an aggregate can carry."""
    p1 = aggregate((LIKE,), (DWELL, 250), (COMMENT, None, -0.5))
    p2 = aggregate((SHARE,))
    a1 = aggregate(
        (LIKE, None, None, "p1"), (COMMENT, None, -0.5, "p1"), posts=True, responses=[1, 30_000, 30_000, 1, 1, 0]
    )
    posts = {B0: {"p1": PostEntry("a1", "instagram", p1)}, B0 + W: {"p2": PostEntry("a2", "tiktok", p2)}}
    accounts = {B0: {"a1": AccountEntry("instagram", a1)}}
    return posts, accounts


def counts(**nonzero) -> list[int]:
    row = [0] * len(TYPE_INDEX)
    for name, n in nonzero.items():
        row[TYPE_INDEX[name]] = n
    return row


P1_STATE = [counts(like=1, comment=1, dwell=1), 250.0, 1, -0.5, 1, 1, None]
P2_STATE = [counts(share=1), 0.0, 0, 0.0, 0, 0, None]
A1_STATE = [counts(like=1, comment=1), 0.0, 0, -0.5, 1, 1, ["p1"], [1, 30_000, 30_000, 1, 1, 0]]
LIVES = [["p1", ["a1", "instagram", B0, "reel", "post_record", True], B0 + 5, [[0, P1_STATE]]]]
SAMPLES = [["a1", "p9", "instagram", "reel", B0 - W, 0.0015]]


def full_entry() -> dict:
    return encode(
        encode_windows(*buckets()),
        seq=3,
        close_mark=B0 - G,
        clock=B0 + 10,
        lives=LIVES,
        samples=SAMPLES,
        seen=SEEN,
        input_offset=42,
        first_input_ms=B0 - W,
    )


def test_encode_writes_every_part_of_a_commit():
    assert full_entry() == {
        "p": [[B0, "p1", "a1", "instagram", P1_STATE], [B0 + W, "p2", "a2", "tiktok", P2_STATE]],
        "a": [[B0, "a1", "instagram", A1_STATE]],
        "l": LIVES,
        "b": SAMPLES,
        "s": [B0 + 7, "AAECAwQFBgcICQoLDA0ODw=="],  # base64 of bytes 0..15
        "o": 42,
        "i": B0 - W,
        "c": B0 - G,
        "n": B0 + 10,
        "q": 3,
    }


def test_encode_leaves_out_what_a_commit_did_not_change_but_always_writes_its_marks():
    assert encode_windows({}, {}) == {}
    assert encode({}, seq=1, close_mark=B0, clock=B0 + 1, lives=[], samples=[]) == {"c": B0, "n": B0 + 1, "q": 1}
    # Offset 0 is an offset: it is written.
    assert encode({}, seq=2, close_mark=B0, clock=B0, input_offset=0) == {"o": 0, "c": B0, "n": B0, "q": 2}


def test_decode_gives_back_what_was_encoded_after_a_trip_through_json():
    decoded = decode(orjson.loads(orjson.dumps(full_entry())))
    assert (decoded.seq, decoded.close_mark, decoded.committed_at) == (3, B0 - G, B0 + 10)
    assert (decoded.input_offset, decoded.first_input_ms, decoded.seen) == (42, B0 - W, SEEN)
    assert decoded.samples == SAMPLES
    posts = {
        start: {k: (e.account_id, e.platform, e.agg.to_state()) for k, e in b.items()}
        for start, b in decoded.posts.items()
    }
    assert posts == {B0: {"p1": ("a1", "instagram", P1_STATE)}, B0 + W: {"p2": ("a2", "tiktok", P2_STATE)}}
    accounts = {
        start: {k: (e.platform, e.agg.to_state()) for k, e in b.items()} for start, b in decoded.accounts.items()
    }
    assert accounts == {B0: {"a1": ("instagram", A1_STATE)}}
    assert decoded.accounts[B0]["a1"].agg.posts == {"p1"}  # a set again, as the state keeps it
    assert list(decoded.lives) == ["p1"]
    life = decoded.lives["p1"]
    assert (life.meta, life.max_ts) == (["a1", "instagram", B0, "reel", "post_record", True], B0 + 5)
    assert {segment: agg.to_state() for segment, agg in life.segments.items()} == {0: P1_STATE}


def test_decode_of_an_entry_with_marks_only_has_no_deltas_and_absent_marks_are_none():
    decoded = decode({"q": 9, "c": B0})
    assert (decoded.seq, decoded.close_mark) == (9, B0)
    assert decoded.committed_at is decoded.input_offset is decoded.first_input_ms is decoded.seen is None
    assert (decoded.posts, decoded.accounts, decoded.lives, decoded.samples) == ({}, {}, {}, [])


@pytest.mark.parametrize(
    "raw, error",
    [
        ({"c": B0, "n": B0}, KeyError),  # no sequence number: a restore could not place it
        ({"q": 1, "p": [[B0, "p1", "a1", P2_STATE]]}, ValueError),  # a post row without its platform
        ({"q": 1, "a": [[B0, "a1", "instagram", A1_STATE, "extra"]]}, ValueError),
    ],
)
def test_decode_refuses_an_entry_without_its_sequence_number_or_a_malformed_row(raw, error):
    with pytest.raises(error):
        decode(raw)


def test_a_small_entry_is_one_message_as_it_is():
    entry = full_entry()
    assert list(chunks(entry)) == [entry]
    marks_only = {"c": B0, "n": B0 + 1, "q": 4}
    assert list(chunks(marks_only)) == [marks_only]


def test_an_entry_of_exactly_chunk_keys_window_keys_is_one_message():
    entry = {"p": [[B0, f"p{i}", "a1", "x", P2_STATE] for i in range(CHUNK_KEYS)], "c": B0, "n": B0, "q": 1}
    assert list(chunks(entry)) == [entry]


def large_entry() -> dict:
    posts = {
        B0: {f"p{i}": PostEntry("a1", "instagram", aggregate((LIKE,), (SHARE,))) for i in range(2 * CHUNK_KEYS + 1000)}
    }
    accounts: dict = {}
    for i in range(3000):
        agg = aggregate((LIKE, None, None, f"p{i}"), posts=True)
        accounts.setdefault(B0 + W * (i % 3), {})[f"acct{i}"] = AccountEntry("x", agg)
    lives = [[f"p{i}", None, B0 + i, [[0, P2_STATE]]] for i in range(10)]
    return encode(
        encode_windows(posts, accounts),
        seq=7,
        close_mark=B0,
        clock=B0 + G,
        lives=lives,
        samples=SAMPLES * 2,
        seen=SEEN,
        input_offset=12_345,
        first_input_ms=B0 - W,
    )


def test_a_large_entry_is_split_into_messages_under_the_limit_with_the_marks_last():
    entry = large_entry()
    delta_keys = 2 * CHUNK_KEYS + 1000 + 3000 + 10 + 2
    messages = list(chunks(entry))
    assert len(messages) == -(-delta_keys // CHUNK_KEYS)  # as few as the limit allows: 4
    for message in messages:
        assert sum(len(message.get(name, ())) for name in ("p", "a", "l", "b")) <= CHUNK_KEYS
        assert message["q"] == 7
        assert len(orjson.dumps(message)) < MESSAGE_BYTES
    marks = {"s": entry["s"], "c": B0, "n": B0 + G, "o": 12_345, "i": B0 - W}
    assert {k: v for k, v in messages[-1].items() if k in marks} == marks
    for message in messages[:-1]:
        assert not set(marks) & set(message)
    # Nothing lost, nothing twice, in order.
    for name in ("p", "a", "l", "b"):
        assert [row for message in messages for row in message.get(name, ())] == entry[name]


def test_each_message_of_a_large_entry_decodes_and_together_they_are_the_entry():
    entry = large_entry()
    posts, accounts, lives, samples = {}, {}, {}, []
    decoded = [decode(orjson.loads(orjson.dumps(message))) for message in chunks(entry)]
    for part in decoded:
        assert part.seq == 7
        for start, bucket in part.posts.items():
            posts.setdefault(start, {}).update(bucket)
        for start, bucket in part.accounts.items():
            accounts.setdefault(start, {}).update(bucket)
        lives.update(part.lives)
        samples += part.samples
    assert [part.close_mark for part in decoded] == [None] * (len(decoded) - 1) + [B0]
    assert [part.seen for part in decoded] == [None] * (len(decoded) - 1) + [SEEN]
    assert list(posts) == [B0] and len(posts[B0]) == 2 * CHUNK_KEYS + 1000
    assert posts[B0]["p8999"].agg.to_state() == [counts(like=1, share=1), 0.0, 0, 0.0, 0, 0, None]
    assert sorted(accounts) == [B0, B0 + W, B0 + 2 * W] and sum(len(b) for b in accounts.values()) == 3000
    assert accounts[B0 + 2 * W]["acct2999"].agg.posts == {"p2999"}
    assert sorted(lives) == sorted(f"p{i}" for i in range(10)) and samples == SAMPLES * 2
