"""The compact open mentions against a plain dict model of the listening rules, written here: random
sequences of mentions, replies, resolves, scans and unmatched drops give the same answers, the same
topic records and the same mentions held; a restore from those records holds what the live state
holds. The store seals every 3 mentions and keeps ids in chunks of 2, so that sealing, compaction and
expiry from the arrays all happen within a few steps."""

from __future__ import annotations

import tracemalloc

import orjson
from hypothesis import given, settings, strategies as st

from streams.state.mention_ids import MentionIds
from streams.state.mention_store import MentionStore
from streams.state.mentions import OpenMentions, Waited

ACK, RESOLVE, KEEP = 10, 20, 40
IDS = [f"mention-{i}" for i in range(12)]


class DictModel:
    """The rules of DOMAIN.md's listening and response, on dicts by event id."""

    def __init__(self, reply_resolves: bool):
        self.reply_resolves = reply_resolves
        self.open: dict[str, tuple[str, int]] = {}
        self.acknowledged: dict[str, tuple[str, int]] = {}
        self.waiting: dict[str, tuple[str, int | None, str | None, int | None]] = {}
        self.changes: dict[str, list | None] = {}

    def mention(self, event_id, account, ts):
        if event_id not in self.waiting:
            self.open[event_id] = (account, ts)
            self.changes[event_id] = ["m", account, ts]
            return None
        _, reply_ts, platform, resolve_ts = self.waiting.pop(event_id)
        resolved = resolve_ts is not None or (reply_ts is not None and self.reply_resolves)
        if not resolved:
            self.acknowledged[event_id] = (account, ts)
        self.changes[event_id] = None if resolved else ["a", account, ts]
        return Waited(reply_ts, platform, resolved)

    def reply(self, mention_id, account, ts, platform):
        if mention_id in self.open:
            mention_account, mention_ts = self.open.pop(mention_id)
            if self.reply_resolves:
                self.changes[mention_id] = None
            else:
                self.acknowledged[mention_id] = (mention_account, mention_ts)
                self.changes[mention_id] = ["a", mention_account, mention_ts]
            return mention_ts
        if mention_id not in self.acknowledged:
            before = self.waiting.get(mention_id)
            if before is None:
                self.wait(mention_id, (account, ts, platform, None))
            elif before[1] is None:
                self.wait(mention_id, (account, ts, platform, before[3]))
        return None

    def resolve(self, mention_id, account, ts):
        for held, answered in ((self.open, False), (self.acknowledged, True)):
            if mention_id in held:
                del held[mention_id]
                self.changes[mention_id] = None
                return answered
        before = self.waiting.get(mention_id)
        if before is None:
            self.wait(mention_id, (account, None, None, ts))
        elif before[3] is None:
            self.wait(mention_id, (*before[:3], ts))
        return None

    def wait(self, mention_id, waiting):
        self.waiting[mention_id] = waiting
        self.changes[mention_id] = ["r", *waiting]

    def drop_unmatched(self, counted_from):
        gone = [m for m, w in self.waiting.items() if min(t for t in (w[1], w[3]) if t is not None) < counted_from]
        for mention_id in gone:
            del self.waiting[mention_id]
            self.changes[mention_id] = None
        return len(gone)

    def scan(self, now):
        overdue: dict[str, list] = {}
        expired = 0
        for held, sla in ((self.open, ACK), (self.acknowledged, RESOLVE)):
            for mention_id, (account, ts) in list(held.items()):
                if now - ts <= sla:
                    continue
                if now - ts > KEEP:
                    del held[mention_id]
                    self.changes[mention_id] = None
                    expired += 1
                    continue
                counts = overdue.setdefault(account, [0, 0, ts])
                counts[0] += held is self.open
                counts[1] += now - ts > RESOLVE
                counts[2] = min(counts[2], ts)
        return overdue, expired


step = st.one_of(
    st.tuples(st.just("mention"), st.sampled_from(IDS), st.sampled_from(["a1", "a2", "a3"]), st.integers(0, 100)),
    st.tuples(st.just("reply"), st.sampled_from(IDS), st.just("a1"), st.integers(0, 100)),
    st.tuples(st.just("resolve"), st.sampled_from(IDS), st.just("a2"), st.integers(0, 100)),
    st.tuples(st.just("scan"), st.just(""), st.just(""), st.integers(0, 200)),
    st.tuples(st.just("drop"), st.just(""), st.just(""), st.integers(0, 100)),
)


def small_store() -> MentionStore:
    return MentionStore(seal_at=3, ids=MentionIds(chunk_ids=2))


def restore_from(records) -> OpenMentions:
    restored = OpenMentions(ACK, RESOLVE, KEEP, held=small_store())
    for key, value in records:
        restored.restore(key, None if value is None else orjson.loads(value))
    return restored


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(step, max_size=60), reply_resolves=st.booleans())
def test_the_compact_mentions_answer_as_the_dict_model(steps, reply_resolves):
    live = OpenMentions(ACK, RESOLVE, KEEP, reply_resolves, held=small_store())
    model = DictModel(reply_resolves)
    log: list[tuple[str, bytes | None]] = []  # every record written, in order
    mentioned: set[str] = set()
    for kind, event_id, account, ts in steps:
        if kind == "mention":
            if event_id in mentioned:  # an id is mentioned once (dedup)
                continue
            mentioned.add(event_id)
            assert live.mention(event_id, account, ts) == model.mention(event_id, account, ts)
        elif kind == "reply":
            assert live.reply(event_id, account, ts, "x") == model.reply(event_id, account, ts, "x")
        elif kind == "resolve":
            assert live.resolve(event_id, account, ts) == model.resolve(event_id, account, ts)
        elif kind == "scan":
            scan = live.scan(ts)
            assert (scan.overdue, scan.expired) == model.scan(ts)
        else:
            assert live.drop_unmatched(ts) == model.drop_unmatched(ts)
        changes, model.changes = model.changes, {}
        assert live.take_changes() == changes
        log += [(key, None if value is None else orjson.dumps(value)) for key, value in changes.items()]
        for event_id in IDS:
            held = model.open.get(event_id) or model.acknowledged.get(event_id)
            kind_held = "m" if event_id in model.open else "a"
            assert live.find(event_id) == (None if held is None else (kind_held, *held))
        assert (live.open_count, live.acknowledged_count) == (len(model.open), len(model.acknowledged))
        assert live.waiting == model.waiting
    compacted = dict(log)  # the latest record per key, as the cleaner keeps it
    for records in (log, list(compacted.items())):
        restored = restore_from(records)
        assert (restored.unresolved(), restored.waiting) == (live.unresolved(), live.waiting)
        for event_id in IDS:
            assert restored.find(event_id) == live.find(event_id)


def test_an_open_mention_takes_at_most_40_bytes():
    """At the simulator's ids (25 characters, each a new string as decoding makes it) and rate."""
    n = 100_000
    tracemalloc.start()
    mentions = OpenMentions(ACK, RESOLVE, KEEP)
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        mentions.mention(f"sim7-1712345678901-{3_000_000 + 100 * i}", f"acct-{i % 2000}", i * 20)
    mentions.take_changes()  # the ids leave with the commit's records
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert mentions.open_count == n
    assert used / n <= 40
