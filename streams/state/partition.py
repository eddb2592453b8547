"""The engine's state of one input partition: the open windows, the dedup memory, the close mark.

Events fold into a *delta* (per window and key, ``add_many``) that is merged into the state once per
commit and journaled then: one changelog entry per partition per commit, not one write per event.
The other parts of the state, each in its module, are listed in ``streams.state``.

Windows close by the partition's clock (the engine passes the wall clock when caught up, the
broker's arrival time of the input while catching up). The dedup memory holds fingerprints of event
ids by arrival time (``streams.state.dedup``). What a restore needs is bounded by the snapshots:
every snapshot interval the open state goes to the snapshot topic, each dedup bucket and closed
account bucket (``sealed``) once when sealed, and the journal after the latest snapshot the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..contract import POST_LEVEL_TYPES, TYPE_INDEX
from ..model.aggregates import COMMENT, WindowAggregate
from . import journal
from .closing import FollowersOf, close_lives, close_windows
from .commit import Commit
from .dedup import DedupMemory, fingerprint
from .entries import AccountEntry, Buckets, PostEntry, merge_buckets
from .lifetimes import PostLifetimes
from .listening import ListeningFold
from .lives_format import encode_delta
from .mentions import OpenMentions
from .post_life import PostOf
from .rolling_merge import rolling
from .sealed_accounts import SealedAccounts
from .silent import PostArrivals, SilentStarts
from .snapshot import SnapshotWriter
from .window import WindowConfig

if TYPE_CHECKING:
    from ..validation.structs import InteractionEvent

DWELL, MENTION, REPLY, RESOLVE = (TYPE_INDEX[t] for t in ("dwell", "mention", "reply", "resolve"))
POST_LEVEL_INDEXES = frozenset(TYPE_INDEX[t] for t in POST_LEVEL_TYPES)

COUNTED, DUPLICATE, LATE = "counted", "duplicate", "late"
__all__ = ["COUNTED", "DUPLICATE", "LATE", "Commit", "FollowersOf", "PartitionState"]


class PartitionState:
    def __init__(
        self,
        partition: int,
        config: WindowConfig,
        closed_through: int = 0,
        post_of: PostOf = lambda post_id: None,
        post_arrivals: PostArrivals | None = None,
    ):
        self.partition = partition
        self.config = config
        self.post_of = post_of  # the post reference records (streams.kafka.posts)
        self.silent = SilentStarts(partition, post_arrivals)
        self.posts: Buckets = {}
        self.accounts: Buckets = {}  # the open account buckets; the closed ones kept for the rolling window:
        self.sealed = SealedAccounts()
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
        self.snapshots = SnapshotWriter()  # what the snapshot topic holds of this state
        self.mentions = OpenMentions(
            config.acknowledge_ms, config.resolve_ms, config.mention_retention_ms, config.reply_resolves
        )
        self.listening = ListeningFold(self.mentions, config.acknowledge_ms)
        self.lifetimes = PostLifetimes(
            config.post_ages_ms, config.maturity_ms, config.benchmark_period_ms, config.engaged_types
        )

    def start_at(self, arrival_ms: int) -> None:
        """A partition with no state starts closing windows at the arrival time of the first input it
        reads: an event that reached Kafka in time is counted, however late it is read."""
        self.closed_through = self.counting_since = self.config.close_mark(arrival_ms)

    def input_from(self, arrival_ms: int) -> None:
        """The first input this partition reads arrived at ``arrival_ms`` (the engine calls it once)."""
        self.first_input_ms = arrival_ms
        self._first_input_journaled = False

    # -- the hot path -------------------------------------------------------------------------
    def add(
        self,
        event: InteractionEvent,
        now_ms: int,
        arrival_ms: int | None = None,
        fp: bytes | None = None,
        known: bool | None = None,
    ) -> str:
        """Fold one event in (``add_many`` of one): COUNTED, DUPLICATE or LATE."""
        fp = fingerprint(event.event_id) if fp is None else fp
        known = self.dedup.seen_before([fp])[0] if known is None else known
        counted, duplicates, _late = self.add_many(
            [event], now_ms, now_ms if arrival_ms is None else arrival_ms, [fp], [known]
        )
        return COUNTED if counted else DUPLICATE if duplicates else LATE

    def add_many(
        self, events: list, now_ms: int, arrival_ms: int, fingerprints: list[bytes], known: list[bool]
    ) -> tuple[list, int, list]:
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
        listening = self.listening
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
                    entry = bucket[post_id] = PostEntry(account_id, event.platform, WindowAggregate())
                if plain:
                    entry.agg.counts[type_index] += 1
                else:
                    entry.agg.add(type_index, dwell, sentiment)
                add_life(post_id, account_id, event.platform, ts, type_index, dwell, sentiment, post_of, input_since)
            bucket = delta_accounts.get(start)
            if bucket is None:
                bucket = delta_accounts[start] = {}
            entry = bucket.get(account_id)
            if entry is None:
                entry = bucket[account_id] = AccountEntry(event.platform, WindowAggregate(track_posts=True))
            agg = entry.agg
            if plain:
                agg.counts[type_index] += 1
                if post_id is not None:
                    agg.posts.add(post_id)  # type: ignore[union-attr]  # track_posts=True: a set
            else:
                agg.add(type_index, dwell, sentiment, post_id)
            if type_index == MENTION:
                listening.mention(agg, event.event_id, account_id, ts)
            elif type_index == REPLY:
                listening.reply(agg, event.in_reply_to, account_id, ts, event.platform)
            elif type_index == RESOLVE:
                listening.resolve(agg, event.resolves, account_id, ts)
        if counted and arrival_ms > self._pending_arrival:
            self._pending_arrival = arrival_ms
        return counted, duplicates, late

    def take_responses(self) -> dict[str, list[int]]:
        """Per platform, the response times (ms) of the mentions answered since the last call."""
        return self.listening.take_responses()

    # -- commit: merge the delta, journal it, close windows --------------------------------------
    def commit(
        self,
        now_ms: int,
        followers_of: FollowersOf,
        close_at_ms: int | None = None,
        input_offset: int | None = None,
        take_snapshot: bool = False,
    ) -> Commit:
        """Merge and journal the delta, and close the windows whose grace has passed at close_at_ms
        (the partition's clock; default now_ms). ``input_offset``: the next input offset, when this
        commit moves it. ``take_snapshot``: also write the whole state to the snapshot topic."""
        clock = now_ms if close_at_ms is None else close_at_ms
        windows = journal.encode_windows(self.delta_posts, self.delta_accounts)
        self.silent.start(self.lifetimes, self.post_of, self.config.close_mark(clock), self.first_input_ms)
        self.lifetimes.adopt_records(self.post_of, self.first_input_ms or now_ms)
        lives = self.lifetimes.take_delta()
        encoded_lives = encode_delta(lives) if lives else None  # before the merge hands the delta over
        if lives:
            self.lifetimes.merge(lives)
        if input_offset is not None:
            self.input_offset = input_offset
        first_input = None
        if not self._first_input_journaled:
            first_input, self._first_input_journaled = self.first_input_ms, True
        seen = None
        if self._pending_arrival:
            arrival = max(self._pending_arrival, self.clock)  # never into a bucket already sealed
            seen = (arrival, self.dedup.flush(arrival))
            self._pending_arrival = 0
        merge_buckets(self.posts, self.delta_posts)
        merge_buckets(self.accounts, self.delta_accounts)
        self.delta_posts, self.delta_accounts = {}, {}
        post_records: list[dict] = []
        account_records: list[dict] = []
        lifetime_records: list[dict] = []
        mark = self.config.close_mark(clock)
        closes = mark > self.closed_through
        samples = None
        if closes:
            samples = close_lives(self, mark, now_ms, followers_of, lifetime_records)
            close_windows(self, mark, now_ms, followers_of, post_records, account_records)
        records, expired = self.snapshots.expire(self.dedup, clock)
        records += self.snapshots.account_buckets.sync(self.sealed)
        self.clock = max(self.clock, clock)
        entry = None
        if (
            windows
            or encoded_lives
            or input_offset is not None
            or first_input is not None
            or seen
            or samples
            or closes
            or expired
        ):
            self.seq += 1
            entry = journal.encode(
                windows,
                seq=self.seq,
                close_mark=self.closed_through,
                clock=clock,
                lives=encoded_lives,
                samples=samples,
                seen=seen,
                input_offset=input_offset,
                first_input_ms=first_input,
            )
        if take_snapshot:
            records += self.snapshots.whole(
                seq=self.seq,
                close_mark=self.closed_through,
                counting_since=self.counting_since,
                input_offset=self.input_offset,
                clock=self.clock,
                first_input_ms=self.first_input_ms,
                posts=self.posts,
                accounts=self.accounts,
                lifetimes=self.lifetimes,
                dedup=self.dedup,
            )
        unmatched = self.mentions.drop_unmatched(self.closed_through) if closes else 0
        return Commit(
            entry,
            post_records,
            account_records,
            lifetime_records,
            self.mentions.take_changes(),
            records,
            unmatched,
            self.mentions.take_expired(),
        )

    def rolling(
        self, start: int, end: int, include_delta: bool = False, account_id: str | None = None
    ) -> dict[str, AccountEntry]:
        """Per account (or only ``account_id``): its entry merged over its buckets starting in
        [start, end); with the uncommitted delta too when ``include_delta`` (live reads)."""
        sources = [self.accounts, self.delta_accounts] if include_delta else [self.accounts]
        return rolling(self.sealed, sources, start, end, account_id)

    def tracked_posts(self) -> int:
        return self.lifetimes.count()

    def open_window_count(self) -> int:
        held = sum(len(b) for b in self.posts.values()) + sum(len(b) for b in self.accounts.values())
        return held + self.sealed.entry_count()
