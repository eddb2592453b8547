"""The close's gauges read an account's samples again only when they changed (a week's 199,000
samples read at every close held the event loop 7-10 s, past the session), and what they export is
what gauges built afresh from the same samples export."""

from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from streams.metrics.early import EarlyWarningGauges
from streams.metrics.posts import PostRateGauges
from streams.model.bands import load_benchmarks
from streams.model.early import EarlyWarning
from streams.state.benchmark_samples import AccountSamples, BenchmarkSamples

HOUR = 3_600_000
AGES = (HOUR, 24 * HOUR, 7 * 24 * HOUR)
MARK = 100 * 24 * HOUR
TYPES = ("image", "reel", "carousel")


def week_of_samples(rng: random.Random, accounts: int) -> tuple[BenchmarkSamples, dict]:
    samples = BenchmarkSamples(early_ages=1)
    truth: dict[str, list[list]] = {}
    for a in range(accounts):
        account_id = f"acct-{a:03d}"
        for k in range(12):
            er = rng.choice([0.0, rng.uniform(0.001, 0.06)])
            early = [er * rng.uniform(0.2, 0.6)]
            row = [f"{account_id}-p{k:03d}", "instagram", TYPES[k % 3], MARK - k * HOUR, er, early]
            samples.add(account_id, row)
            truth.setdefault(account_id, []).append(row)
    samples.seal_and_expire(0)
    return samples, truth


class Worker:
    """The two gauge sets of a worker's close, over one partition's lifetimes."""

    def __init__(self):
        self.registry = CollectorRegistry()
        early = EarlyWarning.at(HOUR, 5, AGES, AGES[1])
        self.posts = PostRateGauges(self.registry, 100, load_benchmarks(None), 1 / 168)
        self.early = EarlyWarningGauges(self.registry, 100, load_benchmarks(None), early, AGES)

    def close(self, samples: dict) -> list[bytes]:
        """The exposition's lines, sorted (a family keeps a series' place from close to close)."""
        state = SimpleNamespace(lifetimes=SimpleNamespace(samples=samples, lives={}))
        self.posts.update(dict(samples), {a: ["instagram", 12] for a in samples}, lambda a: "retail")
        self.early.update([state], MARK, lambda a: 10_000, lambda a: "retail")
        return sorted(generate_latest(self.registry).splitlines())


@pytest.fixture
def reads(monkeypatch) -> Counter:
    """How often each account's samples were read whole."""
    counted: Counter = Counter()
    original = AccountSamples.__iter__

    def counting(self):
        counted[self.post_ids()[0].rsplit("-", 1)[0] if len(self.rows) else "tail"] += 1
        return original(self)

    monkeypatch.setattr(AccountSamples, "__iter__", counting)
    return counted


def test_a_close_reads_again_only_the_accounts_whose_samples_changed(reads):
    samples, truth = week_of_samples(random.Random(8), 30)
    worker = Worker()
    reads.clear()
    worker.close(samples)
    assert set(reads) == set(truth)
    reads.clear()
    worker.close(samples)
    assert reads == Counter()  # nothing changed: nothing read

    new = ["acct-007-p999", "instagram", "image", MARK, 0.5, [0.25]]
    samples.add("acct-007", new)
    truth["acct-007"].append(new)
    samples.seal_and_expire(MARK - 10 * HOUR)  # every account loses its posts of 10 and 11 h ago
    truth = {a: [s for s in rows if s[3] >= MARK - 10 * HOUR] for a, rows in truth.items()}
    reads.clear()
    exposed = worker.close(samples)
    assert set(reads) == set(truth)
    reads.clear()
    samples.add("acct-011", ["acct-011-p999", "instagram", "reel", MARK, 0.0, [0.0]])
    samples.seal_and_expire(0)
    reads.clear()
    exposed = worker.close(samples)
    assert set(reads) == {"acct-011"}
    assert exposed == Worker().close(samples)

    images = [s[4] for s in truth["acct-007"] if s[2] == "image"]
    line = b'engagement_account_post_rate_ratio{account_id="acct-007",content_type="image",industry="retail",'
    line += b'platform="instagram"} '
    exported = float(next(x for x in exposed if x.startswith(line))[len(line) :])
    assert exported == pytest.approx(sum(images) / len(images), rel=1e-12)


def test_samples_restored_into_a_new_object_are_read_again(reads):
    samples, _ = week_of_samples(random.Random(9), 5)
    worker = Worker()
    worker.close(samples)
    restored, _ = week_of_samples(random.Random(10), 5)  # the same accounts and versions, other samples
    assert {a: s.version for a, s in restored.items()} == {a: s.version for a, s in samples.items()}
    reads.clear()
    assert worker.close(restored) == Worker().close(restored)
    assert len(reads) == 5
