"""The dedup memory (pure, no Kafka): exact against a plain dict model, restorable from the journal and
from snapshots, bounded in time and memory, and false duplicates at the rate the arithmetic says."""

from __future__ import annotations

import math
import random
import tracemalloc

import pytest
from hypothesis import given, settings, strategies as st

from streams.state.dedup import FINGERPRINT_BYTES, DedupMemory, fingerprint

HORIZON, BUCKET = 3_000, 1_000  # small, so that ids expire within a generated run
T0 = 1_700_000_000_000
IDS = [f"e{i}" for i in range(12)]
STRANGERS = [f"never-{i}" for i in range(50)]  # queried, never remembered


class Model:
    """The reference, independent of the module: a plain dict of event id -> arrival time (the one
    its flush gives it: the latest of its commit's, as in the engine), dropped a whole bucket at a
    time once the bucket ends horizon before the clock."""

    def __init__(self):
        self.flushed: dict[str, int] = {}
        self.pending: dict[str, int] = {}  # remembered since the last flush, with its own arrival

    def flush(self, arrival: int) -> None:
        self.flushed.update(dict.fromkeys(self.pending, arrival))
        self.pending = {}

    def expire(self, clock: int) -> list[int]:
        gone = {i: a for i, a in self.flushed.items() if a - a % BUCKET + BUCKET <= clock - HORIZON}
        for id_ in gone:
            del self.flushed[id_]
        return sorted({a - a % BUCKET for a in gone.values()})

    def buckets(self) -> list[int]:
        return sorted({a - a % BUCKET for a in self.flushed.values()})


advance = st.integers(0, 2 * BUCKET)
events = st.lists(st.tuples(st.sampled_from(IDS), st.booleans() | st.just(True)), max_size=6)  # (id, accepted)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("slice"), advance, events),
        st.tuples(st.just("flush"), advance, st.booleans()),  # True: flush at now, not at
        st.tuples(st.just("expire"), advance, st.none()),
    ),  # the latest pending arrival
    max_size=50,
)


def run(ops) -> tuple[DedupMemory, Model, int, list, dict]:
    """Feed the memory as the engine does, checking every answer against the model on the way.
    Returns the memory, the model, the clock, the journal: ("add", arrival, blob) / ("expire", clock),
    and the snapshot topic's parts per bucket (taken at each expiry, as a snapshot would)."""
    memory, model, now, journal, written = DedupMemory(HORIZON, BUCKET), Model(), T0, [], {}
    for kind, step, arg in ops:
        now += step
        if kind == "slice":  # the flushed memory once for the whole slice, the pending set per event
            fps = [fingerprint(id_) for id_, _ in arg]
            for (id_, accepted), fp, known in zip(arg, fps, memory.seen_before(fps)):
                assert known == (id_ in model.flushed), id_
                assert (fp in memory.pending) == (id_ in model.pending), id_
                if not (known or (fp in memory.pending)) and accepted:
                    memory.pending.add(fp)
                    model.pending[id_] = now
        elif kind == "flush":
            arrival = now if arg else max(model.pending.values(), default=now)
            blob = memory.flush(arrival)
            assert sorted(_split(blob)) == sorted(fingerprint(i) for i in model.pending)
            model.flush(arrival)
            journal.append(("add", arrival, blob))
        else:
            for start, blobs in memory.take_unwritten().items():
                written.setdefault(start, []).extend(blobs)
            assert memory.expire(now) == model.expire(now)
            journal.append(("expire", now, None))
            written = {start: blobs for start, blobs in written.items() if start in model.buckets()}
        assert memory.bucket_starts() == model.buckets()
        assert len(memory) == len(model.flushed) + len(model.pending)
    return memory, model, now, journal, written


def _split(blob: bytes) -> list[bytes]:
    return [blob[i : i + FINGERPRINT_BYTES] for i in range(0, len(blob), FINGERPRINT_BYTES)]


def answers(memory: DedupMemory) -> list[bool]:
    fps = [fingerprint(i) for i in IDS + STRANGERS]
    return memory.seen_before(fps) + [(fp in memory.pending) for fp in fps]


@settings(max_examples=300, deadline=None)
@given(ops=ops)
def test_answers_exactly_like_a_dict_of_ids_with_bucket_expiry(ops):
    memory, model, now, _, _ = run(ops)
    fps = [fingerprint(i) for i in IDS + STRANGERS]
    assert memory.seen_before(fps) == [i in model.flushed for i in IDS + STRANGERS]
    assert [(fp in memory.pending) for fp in fps] == [i in model.pending for i in IDS + STRANGERS]


@settings(max_examples=200, deadline=None)
@given(ops=ops)
def test_journal_replay_and_snapshot_rebuild_the_same_memory(ops):
    memory, model, now, journal, written = run(ops)
    journal.append(("add", now, memory.flush(now)))  # the pending set is state only once flushed
    model.flush(now)
    for start, blobs in memory.take_unwritten().items():  # a last snapshot: the ids new since the one before
        written.setdefault(start, []).extend(blobs)
    assert sorted(written) == memory.bucket_starts()
    from_parts = DedupMemory(HORIZON, BUCKET)
    for start, blobs in written.items():
        from_parts.load_bucket_parts(start, blobs)
    assert from_parts.seen_before([fingerprint(i) for i in IDS + STRANGERS]) == [
        i in model.flushed for i in IDS + STRANGERS
    ]
    assert from_parts.take_unwritten() == {} and memory.take_unwritten() == {}
    replayed = DedupMemory(HORIZON, BUCKET)
    for kind, when, blob in journal:
        if kind == "add":
            replayed.add(when, blob)
        else:
            replayed.expire(when)
    restored = DedupMemory(HORIZON, BUCKET)
    for start in memory.bucket_starts():  # what a restore overwrites: a bucket holding other ids
        restored.add(start, fingerprint(f"stale-{start}") + fingerprint(IDS[0]))
    for start in memory.bucket_starts():
        restored.load_bucket(start, memory.bucket_blob(start))
    for other in (replayed, restored):
        assert other.bucket_starts() == memory.bucket_starts()
        assert len(other) == len(memory)
        assert answers(other) == answers(memory)
        assert [other.bucket_blob(s) for s in other.bucket_starts()] == [
            memory.bucket_blob(s) for s in memory.bucket_starts()
        ]


@pytest.mark.parametrize("offset", [0, 1, BUCKET - 1])  # where in its bucket the id arrived
def test_an_id_is_remembered_for_the_horizon_and_at_most_one_bucket_more(offset):
    start = T0
    arrival = start + offset
    memory = DedupMemory(HORIZON, BUCKET)
    memory.pending.add(fingerprint("x"))
    memory.flush(arrival)
    assert memory.expire(arrival + HORIZON) == []  # at least the horizon (exactly, at offset BUCKET - 1)
    assert memory.expire(start + BUCKET + HORIZON - 1) == []
    assert memory.seen_before([fingerprint("x")]) == [True]
    # dropped when its bucket ended the horizon ago: arrival + horizon + bucket at offset 0, sooner later on
    assert memory.expire(start + BUCKET + HORIZON) == [start]
    assert memory.seen_before([fingerprint("x")]) == [False] and len(memory) == 0


def test_every_entry_with_an_equal_key_is_checked():
    """Two ids whose first 64 bits agree: the 32-bit check tells them apart, whichever comes first."""
    key, tail = bytes(range(8)), bytes(4)

    def fp(check: int, rest: bytes = tail) -> bytes:
        return key + check.to_bytes(4, "little") + rest

    memory = DedupMemory(HORIZON, BUCKET)
    for i in range(1000):
        memory.pending.add(fingerprint(f"neighbour-{i}"))
    for check in (5, 9, 7):
        memory.pending.add(fp(check))
    memory.flush(T0)
    memory.pending.add(fp(2))
    memory.flush(T0 + BUCKET)  # the same key in a second bucket
    queries = [fp(9), fp(5), fp(7), fp(2), fp(6), fp(8), fp(1), fp(9, b"diff")]
    assert memory.seen_before(queries) == [True, True, True, True, False, False, False, True]  # 96 bits kept


def test_malformed_input_is_refused():
    memory = DedupMemory(HORIZON, BUCKET)
    with pytest.raises(ValueError):
        memory.seen_before([bytes(15)])
    with pytest.raises(ValueError):
        memory.add(T0, bytes(17))
    with pytest.raises(ValueError):
        memory.load_bucket(T0, bytes(13))
    with pytest.raises(ValueError):
        DedupMemory(HORIZON, BUCKET, key_bits=65)


def test_the_fingerprint_is_xxh3_128_of_the_utf8_id():
    """Journals and snapshots carry fingerprints: they must not change between processes or versions."""
    assert fingerprint("évt-1") == bytes.fromhex("d78f385be142529ef7fd35b16d4ac59b")
    assert fingerprint("e0") == bytes.fromhex("02c5b869cd9cd84ec59f3772fd0372a0")
    assert len(fingerprint("")) == FINGERPRINT_BYTES


def test_memory_per_remembered_id_is_at_most_24_bytes():
    """1,000,000 ids: 99 commits of 10,000 flushed into 60 s buckets, and one commit's worth pending;
    a snapshot every 60 s takes the ids new since the one before (those since the last are held).
    Measured twice: the module's own account (arrays' nbytes, the pending set and its bytes objects,
    the ids not taken yet) and every allocation made while it was filled (tracemalloc)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        memory = DedupMemory(900_000, 60_000)
        for commit in range(100):
            for i in range(10_000):
                memory.pending.add(fingerprint(f"evt-{commit}-{i}"))
            if commit < 99:
                memory.flush(T0 + commit * 2_500)  # 4,000 events/s, a commit every 2.5 s
            if commit % 24 == 23:
                memory.take_unwritten()
        traced = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    per_id, traced_per_id = memory.memory_bytes() / len(memory), traced / len(memory)
    print(
        f"\ndedup memory at {len(memory):,} ids: {per_id:.2f} bytes per id (memory_bytes), "
        f"{traced_per_id:.2f} (tracemalloc)"
    )
    assert len(memory) == 1_000_000
    assert per_id <= 24 and traced_per_id <= 24
    assert abs(per_id - traced_per_id) <= 0.05 * traced_per_id  # memory_bytes accounts for it all


@pytest.mark.parametrize("key_bits, check_bits", [(15, 1), (8, 8), (4, 12), (10, 2)])
def test_narrowed_fingerprints_collide_at_the_predicted_rate(key_bits, check_bits):
    """b = key_bits + check_bits bits kept, n ids remembered: a new id is a false duplicate with
    probability 1 - (1 - 2**-b)**n (~ n / 2**b), the bound of the module docstring. With 4-bit keys
    every lookup meets ~125 entries of its key: only the check word tells them apart."""
    memory = DedupMemory(HORIZON, BUCKET, key_bits=key_bits, check_bits=check_bits)
    n, m = 2_000, 20_000
    for i in range(n):
        memory.pending.add(fingerprint(f"kept-{i}"))
        if i % 500 == 499:
            memory.flush(T0 + i)  # into two buckets
    rng = random.Random(key_bits)
    fresh = [fingerprint(f"new-{rng.getrandbits(64):016x}") for _ in range(m)]
    false = sum(memory.seen_before(fresh))
    p = 1 - (1 - 2.0 ** -(key_bits + check_bits)) ** n
    sigma = math.sqrt(m * p * (1 - p))
    print(f"\n{key_bits}+{check_bits} bits: {false} false duplicates in {m:,} lookups, predicted {m * p:.0f}")
    assert abs(false - m * p) <= 5 * sigma, (false, m * p, sigma)


def test_full_width_fingerprints_do_not_collide_over_millions_of_ids():
    """2,000,000 remembered and 2,000,000 new random ids: expected false duplicates 4e12 / 2**96 = 5e-17."""
    rng = random.Random(96)
    memory = DedupMemory(900_000, 60_000)
    kept = [fingerprint(f"{rng.getrandbits(128):032x}") for _ in range(2_000_000)]
    for i in range(0, len(kept), 10_000):
        for fp in kept[i : i + 10_000]:
            memory.pending.add(fp)
        memory.flush(T0 + i // 5)  # 5,000 events/s into 60 s buckets
    fresh = [fingerprint(f"{rng.getrandbits(128):032x}") for _ in range(2_000_000)]
    for i in range(0, len(fresh), 10_000):
        assert not any(memory.seen_before(fresh[i : i + 10_000]))
        assert all(memory.seen_before(kept[i : i + 10_000]))
