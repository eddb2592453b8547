"""The engine's state of one input partition: the open windows, the dedup memory, the close mark.

Events fold into a *delta* (per window and key) that is merged into the state once per commit and
journaled then: one changelog entry per partition per commit, not one write per event (the format:
``streams.state.journal``). Replaying the journal (``apply_journal``) rebuilds exactly the state that
the commits built, closed windows included, so a restarted or rebalanced worker neither loses a
window nor emits one twice.

Windows close by the partition's clock (the engine passes the wall clock when caught up, the
broker's arrival time of the input while catching up): a tumbling window [start, end) is final once
end + grace has passed. The rolling per-account window is the merge of the tumbling account buckets of
its span; one rolling record per step (= tumbling window length) per account with traffic in the span.

The dedup memory holds fingerprints of event ids by arrival time (``streams.state.dedup``). What a
restore needs is bounded by ``snapshot``: every snapshot interval the whole state goes to the snapshot
topic, each dedup bucket once when it is sealed, and the journal after the latest snapshot rebuilds
the rest. The live reads of the HTTP API are in ``streams.state.live``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..contract import POST_LEVEL_TYPES, TYPE_INDEX
from ..model.aggregates import COMMENT, WindowAggregate
from ..model.records import lifetime_record, window_record
from . import journal, snapshot
from .dedup import DedupMemory, fingerprint
from .journal import Buckets
from .lifetimes import PostLife, PostLifetimes, PostOf, add_samples, decode_lives, encode_delta, encode_lives, \
    encode_samples
from .mentions import OpenMentions
from .snapshot import Snapshot, sealed_key
from .window import WindowConfig

if TYPE_CHECKING:
    from ..validation.structs import InteractionEvent

DWELL, MENTION, REPLY = TYPE_INDEX["dwell"], TYPE_INDEX["mention"], TYPE_INDEX["reply"]
POST_LEVEL_INDEXES = frozenset(TYPE_INDEX[t] for t in POST_LEVEL_TYPES)

COUNTED, DUPLICATE, LATE = "counted", "duplicate", "late"

FollowersOf = Callable[[str], "int | None"]


@dataclass
class Commit:
    journal: dict | None  # the state changes to journal; None when nothing changed
    post_records: list[dict]
    account_records: list[dict]
    lifetime_records: list[dict]  # posts that reached a record age
    mention_changes: dict  # mention id -> its record in the mentions topic (None: closed)
    snapshot_records: list  # (key, value or None) for the snapshot topic
    replies_unmatched: int = 0  # waiting replies dropped: their mention can no longer be counted


class PartitionState:
    def __init__(self, partition: int, config: WindowConfig, closed_through: int = 0,
                 post_of: PostOf = lambda post_id: None):
        self.partition = partition
        self.config = config
        self.post_of = post_of  # the post reference records (streams.kafka.posts)
        self.posts: Buckets = {}
        self.accounts: Buckets = {}
        self.dedup = DedupMemory(config.dedup_ms, config.dedup_bucket_ms)
        self.closed_through = closed_through
        # The first close mark this partition's state has known: rolling windows that start before it
        # hold only part of their span (the service was not counting yet).
        self.counting_since = closed_through or None
        # The broker's arrival time of the first input this partition read: a post published later had
        # all of its events counted (one published before may have had events the service never got).
        self.first_input_ms: int | None = None
        self._first_input_journaled = True
        # The input offset this state has read up to, as journalled with it: a restore resumes there
        # even when the group's committed offset is not readable yet (it commits in the same transaction).
        self.input_offset: int | None = None
        self.seq = 0  # journal entries written (or replayed); a snapshot says up to which one it holds
        self.clock = 0  # the clock of the last commit: dedup buckets ending by it are sealed
        self.delta_posts: Buckets = {}
        self.delta_accounts: Buckets = {}
        self._pending_arrival = 0  # the latest arrival among the ids remembered since the last commit
        self._sealed_written: set[int] = set()  # dedup buckets whose snapshot record is written
        self._snapshot_chunks = 0  # chunks of the latest snapshot, so that a smaller one deletes the rest
        self.mentions = OpenMentions(config.acknowledge_ms, config.resolve_ms, config.mention_retention_ms)
        self.responses: dict[str, list[int]] = {}  # platform -> response ms, for the histogram
        self.lifetimes = PostLifetimes(config.post_ages_ms, config.maturity_ms, config.benchmark_period_ms)

    def start_at(self, arrival_ms: int) -> None:
        """A partition with no state starts closing windows at the arrival time of the first input it
        reads: an event that reached Kafka in time is counted, however late it is read."""
        self.closed_through = self.counting_since = self.config.close_mark(arrival_ms)

    def input_from(self, arrival_ms: int) -> None:
        """The first input this partition reads arrived at ``arrival_ms`` (the engine calls it once)."""
        self.first_input_ms = arrival_ms
        self._first_input_journaled = False

    # -- the hot path -------------------------------------------------------------------------
    def add(self, event: InteractionEvent, now_ms: int, arrival_ms: int | None = None, fp: bytes | None = None,
            known: bool | None = None) -> str:
        """Fold one event in (``add_many`` of one): COUNTED, DUPLICATE or LATE."""
        fp = fingerprint(event.event_id) if fp is None else fp
        known = self.dedup.seen_before([fp])[0] if known is None else known
        counted, duplicates, _late = self.add_many([event], now_ms, now_ms if arrival_ms is None else arrival_ms,
                                                   [fp], [known])
        return COUNTED if counted else DUPLICATE if duplicates else LATE

    def add_many(self, events: list, now_ms: int, arrival_ms: int, fingerprints: list[bytes],
                 known: list[bool]) -> tuple[list, int, list]:
        """Fold a slice's events in, in order: (the events counted, the number of duplicates, the
        late events). ``known``: whether the flushed dedup memory knows each fingerprint
        (``DedupMemory.seen_before`` answers a whole slice at once); ``arrival_ms``: the latest
        arrival of the slice's messages. One loop with the state's parts bound once: this is the
        engine's cost per event."""
        counted, late = [], []
        duplicates = 0
        pending = self.dedup.pending
        window_ms = self.config.window_ms
        closed_through = self.closed_through
        delta_posts, delta_accounts = self.delta_posts, self.delta_accounts
        add_life, post_of, input_since = self.lifetimes.add, self.post_of, self.first_input_ms or now_ms
        for event, fp, seen in zip(events, fingerprints, known):
            if seen or fp in pending:
                duplicates += 1
                continue
            ts = event.ts
            start = ts - ts % window_ms
            if start + window_ms <= closed_through:
                late.append(event)
                continue
            pending.add(fp)
            counted.append(event)
            type_index = event.type_index
            dwell = event.dwell_ms if type_index == DWELL else None
            sentiment = event.sentiment if type_index == COMMENT or type_index == MENTION else None
            plain = dwell is None and sentiment is None  # then an aggregate only counts the type
            post_id = event.post_id if type_index in POST_LEVEL_INDEXES else None
            account_id = event.account_id
            if post_id is not None:
                bucket = delta_posts.get(start)
                if bucket is None:
                    bucket = delta_posts[start] = {}
                entry = bucket.get(post_id)
                if entry is None:
                    entry = bucket[post_id] = [account_id, event.platform, WindowAggregate()]
                if plain:
                    entry[2].counts[type_index] += 1
                else:
                    entry[2].add(type_index, dwell, sentiment)
                add_life(post_id, account_id, event.platform, ts, type_index, dwell, sentiment, post_of, input_since)
            bucket = delta_accounts.get(start)
            if bucket is None:
                bucket = delta_accounts[start] = {}
            entry = bucket.get(account_id)
            if entry is None:
                entry = bucket[account_id] = [event.platform, WindowAggregate(track_posts=True)]
            agg = entry[1]
            if plain:
                agg.counts[type_index] += 1
                if post_id is not None:
                    agg.posts.add(post_id)
            else:
                agg.add(type_index, dwell, sentiment, post_id)
            if type_index == MENTION:
                reply = self.mentions.mention(event.event_id, account_id, ts)
                if reply is not None:  # its reply came first: the response counts in the mention's window
                    self._responded(agg, reply[1], reply[0] - ts)
            elif type_index == REPLY:
                mention_ts = self.mentions.reply(event.in_reply_to, account_id, ts, event.platform)
                if mention_ts is not None:
                    self._responded(agg, event.platform, ts - mention_ts)
        if counted and arrival_ms > self._pending_arrival:
            self._pending_arrival = arrival_ms
        return counted, duplicates, late

    def _responded(self, agg: WindowAggregate, platform: str, response_ms: int) -> None:
        response_ms = max(0, response_ms)  # the two ts come from different clocks
        agg.add_response(response_ms, response_ms <= self.config.acknowledge_ms)
        self.responses.setdefault(platform, []).append(response_ms)

    def take_responses(self) -> dict[str, list[int]]:
        """Per platform, the response times (ms) of the mentions answered since the last call."""
        responses, self.responses = self.responses, {}
        return responses

    # -- commit: merge the delta, journal it, close windows --------------------------------------
    def commit(self, now_ms: int, followers_of: FollowersOf, close_at_ms: int | None = None,
               input_offset: int | None = None, take_snapshot: bool = False) -> "Commit":
        """Merge and journal the delta, and close the windows whose grace has passed at close_at_ms
        (the partition's clock; default now_ms). ``input_offset``: the next input offset, when this
        commit moves it. ``take_snapshot``: also write the whole state to the snapshot topic."""
        clock = now_ms if close_at_ms is None else close_at_ms
        entry = journal.encode(self.delta_posts, self.delta_accounts)
        self.lifetimes.adopt_records(self.post_of, self.first_input_ms or now_ms)
        lives = self.lifetimes.take_delta()
        if lives:
            entry["l"] = encode_delta(lives)
            self.lifetimes.merge(lives)
        if input_offset is not None:
            entry["o"] = self.input_offset = input_offset
        if not self._first_input_journaled:
            entry["i"] = self.first_input_ms
            self._first_input_journaled = True
        if self._pending_arrival:
            arrival = max(self._pending_arrival, self.clock)  # never into a bucket already sealed
            entry["s"] = journal.encode_seen(arrival, self.dedup.flush(arrival))
            self._pending_arrival = 0
        _merge_buckets(self.posts, self.delta_posts)
        _merge_buckets(self.accounts, self.delta_accounts)
        self.delta_posts, self.delta_accounts = {}, {}
        post_records: list[dict] = []
        account_records: list[dict] = []
        lifetime_records: list[dict] = []
        mark = self.config.close_mark(clock)
        closes = mark > self.closed_through
        if closes:
            samples = self._close_lives(mark, now_ms, followers_of, lifetime_records)
            if samples:
                entry["b"] = samples
            self._close(mark, now_ms, followers_of, post_records, account_records)
        records, expired = self._seal_and_expire(clock)
        self.clock = max(self.clock, clock)
        if entry or closes or expired:
            entry["c"] = self.closed_through  # a replay must know the mark even if this commit kept it
            entry["n"] = clock  # a replay expires the dedup memory as this commit does
            self.seq += 1
            entry["q"] = self.seq
        if take_snapshot:
            records += self._snapshot()
        unmatched = self.mentions.drop_unmatched(self.closed_through) if closes else 0
        return Commit(entry or None, post_records, account_records, lifetime_records, self.mentions.take_changes(),
                      records, unmatched)

    def _seal_and_expire(self, clock: int) -> tuple[list, bool]:
        """Drop the dedup buckets beyond the horizon (and their records), then write each bucket that
        can take no more ids to the snapshot topic, once."""
        records = []
        expired = self.dedup.expire(clock)
        for start in expired:
            if start in self._sealed_written:
                self._sealed_written.discard(start)
                records.append((sealed_key(start), None))
        for start in self.dedup.sealed(clock):
            if start not in self._sealed_written:
                self._sealed_written.add(start)
                records.append((sealed_key(start), self.dedup.bucket_blob(start)))
        return records, bool(expired)

    def _snapshot(self) -> list:
        marks = {"q": self.seq, "c": self.closed_through, "k": self.counting_since, "o": self.input_offset,
                 "n": self.clock, "i": self.first_input_ms}
        filling = {start: self.dedup.bucket_blob(start) for start in self.dedup.bucket_starts()
                   if start not in self._sealed_written}
        lifetimes = {"L": encode_lives(self.lifetimes.lives), "b": encode_samples(self.lifetimes.samples)}
        records = snapshot.encode_windows(marks, self.posts, self.accounts, lifetimes, filling, self._snapshot_chunks)
        self._snapshot_chunks = sum(1 for key, value in records
                                    if key.startswith(snapshot.CHUNK_PREFIX) and value is not None)
        return records

    def _close_lives(self, mark: int, now_ms: int, followers_of: FollowersOf, records: list[dict]) -> list:
        """The lifetime records of the posts that reached an age by ``mark``, and the benchmark samples
        of those that reached maturity (as journalled: [account_id, post_id, platform, content_type, published_at,
        er])."""
        cfg, lifetimes = self.config, self.lifetimes
        samples = []

        def on_age(post_id: str, life: PostLife, index: int) -> None:
            followers = followers_of(life.account_id)
            record = lifetime_record(cfg.engaged_types, post_id, life, cfg.post_ages_ms[index],
                                     index == len(cfg.post_ages_ms) - 1, followers, now_ms)
            records.append(record)
            if index == lifetimes.maturity_index and life.complete and record["rates"]["er_followers"] is not None:
                sample = [life.account_id, post_id, life.platform, life.content_type, life.published_at,
                          record["rates"]["er_followers"]]
                samples.append(sample)
                lifetimes.add_sample(life.account_id, sample[1:])

        lifetimes.advance(mark, on_age)
        return samples

    def _close(self, mark: int, now_ms: int, followers_of: FollowersOf,
               post_records: list[dict], account_records: list[dict]) -> None:
        cfg = self.config
        types = cfg.engaged_types
        for start in sorted(s for s in self.posts if s + cfg.window_ms <= mark):
            for post_id, (account_id, platform, agg) in self.posts.pop(start).items():
                post_records.append(window_record(types, "post", "tumbling", start, start + cfg.window_ms, agg,
                                                  account_id, platform, followers_of(account_id), now_ms,
                                                  post_id=post_id))
        for start in sorted(self.accounts):
            end = start + cfg.window_ms
            if self.closed_through < end <= mark:
                for account_id, (platform, agg) in self.accounts[start].items():
                    account_records.append(window_record(types, "account", "tumbling", start, end, agg,
                                                         account_id, platform, followers_of(account_id), now_ms))
        for end in self._rolling_ends(mark):
            for account_id, (platform, agg) in self.rolling(end - cfg.rolling_ms, end).items():
                account_records.append(window_record(types, "account", "rolling", end - cfg.rolling_ms, end, agg,
                                                     account_id, platform, followers_of(account_id), now_ms))
        self._apply_close(mark)

    def _rolling_ends(self, mark: int) -> list[int]:
        """Ends of the rolling windows that become final between the previous close mark and ``mark``
        and hold traffic (a window ending at E spans the buckets starting in [E - rolling, E))."""
        cfg = self.config
        ends = set()
        for start in self.accounts:
            first = max(start + cfg.window_ms, self.closed_through + cfg.window_ms)
            last = min(start + cfg.rolling_ms, mark)
            ends.update(range(first, last + 1, cfg.window_ms))
        return sorted(ends)

    def rolling(self, start: int, end: int, include_delta: bool = False) -> dict[str, list]:
        """Per account: (platform, the merge of its buckets starting in [start, end)); with the
        uncommitted delta too when ``include_delta`` (live reads)."""
        merged: dict[str, list] = {}
        sources = [self.accounts, self.delta_accounts] if include_delta else [self.accounts]
        for buckets in sources:
            for bucket_start, bucket in buckets.items():
                if start <= bucket_start < end:
                    for account_id, (platform, agg) in bucket.items():
                        slot = merged.get(account_id)
                        if slot is None:
                            merged[account_id] = [platform, agg.copy()]
                        else:
                            slot[1].merge(agg)
        return merged

    def _apply_close(self, mark: int) -> None:
        """Drop what ``mark`` made final: post windows, and account buckets no rolling window needs."""
        cfg = self.config
        for start in [s for s in self.posts if s + cfg.window_ms <= mark]:
            del self.posts[start]
        for start in [s for s in self.accounts if s + cfg.rolling_ms <= mark]:
            del self.accounts[start]
        self.closed_through = mark
        if self.counting_since is None:
            self.counting_since = mark

    # -- restore ----------------------------------------------------------------------------------
    def load_snapshot(self, snap: Snapshot) -> None:
        """Start from a snapshot (then replay the journal entries after ``self.seq``)."""
        for start, blob in snap.sealed.items():
            self.dedup.load_bucket(start, blob)
            self._sealed_written.add(start)
        if snap.header is None:
            return
        header = snap.header
        windows = journal.decode({**snap.entry, "q": header["q"]})
        self.posts, self.accounts = windows.posts, windows.accounts
        self.lifetimes.lives = decode_lives(snap.entry.get("L", ()))
        add_samples(self.lifetimes, snap.entry.get("b", ()))
        for start, blob in snap.filling.items():
            if start not in self._sealed_written:  # a sealed record, written later, holds all of it
                self.dedup.load_bucket(start, blob)
        self.seq, self.closed_through, self.counting_since = header["q"], header["c"], header["k"]
        self.input_offset, self.clock, self.first_input_ms = header["o"], header["n"], header.get("i")
        self._snapshot_chunks = header["chunks"]

    def apply_journal(self, raw: dict) -> None:
        """Redo one committed entry: the same merges and closes as ``commit``, without emitting."""
        entry = journal.decode(raw)
        self.seq = max(self.seq, entry.seq)
        _merge_buckets(self.posts, entry.posts)
        _merge_buckets(self.accounts, entry.accounts)
        self.lifetimes.merge(entry.lives)
        add_samples(self.lifetimes, entry.samples)
        if entry.seen is not None:
            arrival, fingerprints = entry.seen
            if arrival - arrival % self.config.dedup_bucket_ms not in self._sealed_written:
                self.dedup.add(arrival, fingerprints)
        if entry.input_offset is not None:
            self.input_offset = max(self.input_offset or 0, entry.input_offset)
        if entry.first_input_ms is not None:
            self.first_input_ms = entry.first_input_ms
        if entry.close_mark is not None:
            if self.counting_since is None:
                self.counting_since = entry.close_mark
            if entry.close_mark > self.closed_through:
                self.lifetimes.advance(entry.close_mark)
                self._apply_close(entry.close_mark)
        if entry.committed_at is not None:
            self.clock = max(self.clock, entry.committed_at)
            self._sealed_written.difference_update(self.dedup.expire(entry.committed_at))

    def tracked_posts(self) -> int:
        return len(self.lifetimes.lives)

    def open_window_count(self) -> int:
        return sum(len(b) for b in self.posts.values()) + sum(len(b) for b in self.accounts.values())


def _merge_buckets(into: Buckets, delta: Buckets) -> None:
    """Merge delta buckets into state buckets; the delta's entries are handed over, not copied."""
    for start, bucket in delta.items():
        target = into.get(start)
        if target is None:
            into[start] = bucket
            continue
        for key, entry in bucket.items():
            existing = target.get(key)
            if existing is None:
                target[key] = entry
            else:
                existing[-1].merge(entry[-1])
