import tracemalloc

from streams.state.benchmark_samples import BenchmarkSamples

DAY = 86_400_000
T0 = 1_700_000_000_000


def test_samples_read_back_as_they_came_and_expire_by_publication():
    samples = BenchmarkSamples(early_ages=2)
    truth = [
        ["a1-p000002", "instagram", "reel", T0 + 5, 0.25, [0.125, 0.0625]],
        ["a1-p000001", "instagram", "image", T0, 0.1, [0.05]],  # fewer early ERs than the config's
        ["zz", "instagram", "reel", T0 + 1, 0.3],  # an encoding before the curves: no early ERs
        ["a1-é", "instagram", "story", T0 + DAY, 1e-300, [3.0, 4.0]],
    ]
    for sample in truth[:2]:
        samples.add("a1", sample)
    samples.seal_and_expire(0)
    for sample in truth[2:]:
        samples.add("a1", sample)  # the tail, not sealed yet
    assert list(samples["a1"]) == truth and samples["a1"][-1] == truth[-1] and len(samples["a1"]) == 4
    samples.seal_and_expire(0)
    assert samples.keys() == {"a1"} and list(samples["a1"]) == truth
    assert samples["a1"].tail == [] and len(samples["a1"].rows) == 4  # sealed into the columns
    assert [samples["a1"][i] for i in (2, 0, -1)] == [truth[2], truth[0], truth[3]]  # one sealed row each
    samples.seal_and_expire(T0 + 2)
    assert list(samples["a1"]) == [truth[0], truth[3]]
    samples.seal_and_expire(T0 + DAY + 1)
    assert dict(samples) == {}


def test_a_sample_takes_at_most_40_bytes():
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    samples = BenchmarkSamples(early_ages=1)
    for a in range(100):
        for k in range(116):
            post_id = f"acct-{a:04d}-p{k:06d}"
            samples.add(
                f"acct-{a:04d}", [post_id, "instagram", ("reel", "image")[k % 2], T0 + k * 5_000_000, k / 7, [k / 9]]
            )
    samples.seal_and_expire(0)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert used / 11_600 <= 40
    assert abs(samples.nbytes - used) / used < 0.2  # memory_bytes() counts what it takes


def test_the_version_moves_when_the_samples_change_and_only_then():
    """The close's gauges keep what they computed from an account's samples until its version moves."""
    samples = BenchmarkSamples(early_ages=1)
    samples.add("a1", ["p1", "instagram", "reel", T0, 0.1, [0.05]])
    account = samples["a1"]
    versions = [account.version]
    samples.seal_and_expire(0)  # sealed: the same rows
    versions.append(account.version)
    samples.add("a1", ["p2", "instagram", "reel", T0 + DAY, 0.2, [0.1]])
    versions.append(account.version)
    samples.seal_and_expire(T0)  # nothing published before T0
    versions.append(account.version)
    samples.seal_and_expire(T0 + 1)  # p1 expires
    versions.append(account.version)
    assert versions[0] == versions[1] < versions[2] == versions[3] < versions[4]
    assert [s[0] for s in account] == ["p2"]
