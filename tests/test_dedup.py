"""The dedup memory (no Kafka): exact against a plain model, compact, and collisions as predicted."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from streams.state import dedup
from streams.state.dedup import DedupMemory, fingerprint

HORIZON, BUCKET = 10_000, 1_000
T0 = 1_700_000_000_000


class Model:
    """What the memory must answer, kept as the test's own dict: id -> bucket start of its arrival."""

    def __init__(self):
        self.flushed: dict[str, int] = {}
        self.pending: dict[str, int] = {}

    def known(self, id_: str) -> bool:
        return id_ in self.flushed or id_ in self.pending

    def flush(self, arrival: int) -> None:
        for id_ in self.pending:
            self.flushed[id_] = arrival - arrival % BUCKET
        self.pending = {}

    def expire(self, clock: int) -> None:
        self.flushed = {i: s for i, s in self.flushed.items() if s + BUCKET > clock - HORIZON}


def seen(memory: DedupMemory, ids: list[str]) -> list[bool]:
    """As the engine asks: the flushed memory for the whole slice, the pending set per event."""
    fps = [fingerprint(i) for i in ids]
    return [known or memory.is_pending(fp) for fp, known in zip(fps, memory.seen_before(fps))]


ops = st.lists(st.one_of(
    st.tuples(st.just("slice"), st.lists(st.sampled_from([f"e{i}" for i in range(30)]), max_size=8)),
    st.tuples(st.just("flush"), st.integers(0, 3 * BUCKET)),
    st.tuples(st.just("expire"), st.integers(0, 3 * BUCKET))), max_size=60)


@settings(max_examples=300, deadline=None)
@given(ops=ops)
def test_answers_like_the_model_and_survives_a_round_trip(ops):
    memory, model, now = DedupMemory(HORIZON, BUCKET), Model(), T0
    journal: list[tuple[int, bytes]] = []
    for kind, arg in ops:
        if kind == "slice":  # as the engine folds one: flushed memory once, pending set per event
            fps = [fingerprint(i) for i in arg]
            for id_, fp, known in zip(arg, fps, memory.seen_before(fps)):
                assert (known or memory.is_pending(fp)) == model.known(id_), id_
                if not model.known(id_):
                    model.pending[id_] = now
                    memory.remember(fp)
        elif kind == "flush":
            now += arg
            journal.append((now, memory.flush(now)))
            model.flush(now)
        else:
            now += arg
            memory.expire(now)
            model.expire(now)
            journal.append((-now, b""))
    journal.append((now, memory.flush(now)))
    model.flush(now)
    probe = [f"e{i}" for i in range(30)]
    assert seen(memory, probe) == [model.known(i) for i in probe]
    replayed = DedupMemory(HORIZON, BUCKET)
    for when, blob in journal:
        if when < 0:
            replayed.expire(-when)
        else:
            replayed.add(when, blob)
    copied = DedupMemory(HORIZON, BUCKET)
    for start in memory.bucket_starts():
        copied.load_bucket(start, memory.bucket_blob(start))
    for other in (replayed, copied):
        assert seen(other, probe) == seen(memory, probe)


def test_an_id_is_remembered_for_the_horizon_and_at_most_one_bucket_more():
    memory = DedupMemory(HORIZON, BUCKET)
    memory.remember(fingerprint("x"))
    memory.flush(T0 + 1)  # bucket [T0, T0 + BUCKET)
    memory.expire(T0 + 1 + HORIZON)
    assert seen(memory, ["x"]) == [True]
    memory.expire(T0 + BUCKET + HORIZON - 1)
    assert seen(memory, ["x"]) == [True]
    assert memory.expire(T0 + BUCKET + HORIZON) == [T0]
    assert seen(memory, ["x"]) == [False]


def test_sealed_buckets_merge_and_stay_exact():
    memory = DedupMemory(HORIZON, BUCKET)
    ids = [f"id-{i}" for i in range(5000)]
    for n, id_ in enumerate(ids):
        memory.remember(fingerprint(id_))
        if n % 100 == 99:
            memory.flush(T0 + n)  # 50 flushes over 5 buckets, each bucket more runs than MAX_RUNS
    assert memory.sealed(T0 + 4 * BUCKET) == [T0, T0 + BUCKET, T0 + 2 * BUCKET, T0 + 3 * BUCKET]
    memory.expire(T0 + 4 * BUCKET)  # merges the sealed ones
    assert seen(memory, ids) == [True] * len(ids)
    assert seen(memory, [f"other-{i}" for i in range(5000)]) == [False] * 5000
    assert len(memory) == 5000


def test_memory_per_remembered_id_is_at_most_24_bytes():
    memory = DedupMemory(900_000, 60_000)
    ids_per_flush, per_bucket = 10_000, 100_000
    for n in range(1_000_000 // ids_per_flush):
        for i in range(ids_per_flush):
            memory.remember(fingerprint(f"evt-{n}-{i}"))
        memory.flush(T0 + (n * ids_per_flush // per_bucket) * 60_000)
    memory.expire(T0 + 10 * 60_000)
    per_id = memory.memory_bytes() / len(memory)
    print(f"\ndedup memory: {per_id:.1f} bytes per remembered id at {len(memory):,} ids")
    assert len(memory) == 1_000_000 and per_id <= 24


@pytest.mark.parametrize("key_bits", [12, 16])
def test_collisions_happen_at_the_predicted_rate(monkeypatch, key_bits):
    """With the fingerprint narrowed to k + 1 bits, n remembered ids and m lookups of new ids give
    about m * n / 2**(k+1) false duplicates (the arithmetic of the module docstring)."""
    monkeypatch.setattr(dedup, "KEY_BITS", key_bits)
    monkeypatch.setattr(dedup, "CHECK_BITS", 1)
    memory, rng = DedupMemory(HORIZON, BUCKET), random.Random(key_bits)
    n, m = 2000, 20_000
    for i in range(n):
        memory.remember(fingerprint(f"kept-{i}"))
    memory.flush(T0)
    false = sum(memory.seen_before([fingerprint(f"new-{rng.random()}") for _ in range(m)]))
    expected = m * (1 - (1 - 2 ** -(key_bits + 1)) ** n)  # about m * n / 2**(k+1) while n << 2**k
    assert 0.8 * expected < false < 1.25 * expected, (false, expected)


def test_full_width_fingerprints_never_collide_over_millions():
    memory = DedupMemory(HORIZON, BUCKET)
    for i in range(2_000_000):
        memory.remember(fingerprint(f"kept-{i}"))
    memory.flush(T0)
    assert not any(memory.seen_before([fingerprint(f"new-{i}") for i in range(2_000_000)]))
