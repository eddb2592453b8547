"""Post lifetimes: per post, its engagement from publication to each record age, and the samples of
its account's ER per post (DOMAIN.md, "Benchmarks: what the number means").

An event of a post falls in the *segment* of its age: [0, a1), [a1, a2), ... up to the lifetime (the
last age); an event before the publication (clock skew) counts in the first, one past the lifetime
in none. A post's record at age a_k is the merge of its segments up to a_k, published once the close
mark passes publication + a_k: every event older than the mark is final, since its window closed
(an event of a segment already published would be late, and is rejected as such). At the maturity
age its ER by followers becomes a *sample* of the account's ER per post, kept for the benchmark
period after its publication.

The publication time and content type come from the post's record (``engagement.posts``). A post
whose first event comes before its record starts from that event (content type ``unknown``); its
record, when it comes, is adopted while every event counted so far stays in the first segment.
A post counts in the benchmark only when the service counted all of its life up to maturity: published
after the partition's first input arrived (for a post without a record: a lifetime after, since its
real publication is unknown). Not after its first close: a source that starts after the service
(collectors, a simulator) has posts published before whose early events were never sent. A post past
its lifetime stays as a tombstone for a benchmark period more,
so that a late trickle of engagement does not start its life again.

Lives past their last-but-one age are sealed into columns (``sealed_lives``, under the rules of
``sealed_lifetimes``), as are tombstones.
The state moves like the windows: changes go into the commit's journal entry (``l``: life deltas,
``b``: new samples); the snapshots hold the young lives whole (``L``), the sealed ones' final
segments (``F``) and samples (``b``), and each sealed group once in records of its own
(``lives_records``); ``lives_format`` encodes them.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from ..contract import UNKNOWN_CONTENT_TYPE
from ..model.aggregates import WindowAggregate
from ..model.rates import engaged_count
from .benchmark_samples import BenchmarkSamples
from .post_life import FROM_FIRST_EVENT, FROM_RECORD, LifeDelta, PostLife, PostOf
from .sealed_lifetimes import SealedLifetimes
from .sealed_lives import SealedLives

# Measured in-process (tracemalloc, tests/unit/state/test_post_life.py): a young life with its meta, id
# and dict slot; a packed aggregate; one kept whole (the sealed lives and the samples count their
# columns' bytes: about 111 B a sealed life, 32 B a tombstone, 34 B a sample).
LIFE_BYTES, PACKED_BYTES, AGGREGATE_BYTES = 400, 93, 340


class PostLifetimes:
    def __init__(self, ages_ms: tuple[int, ...], maturity_ms: int, period_ms: int, engaged_types: tuple[str, ...]):
        self.ages = ages_ms
        self.engaged_types = engaged_types
        self.lifetime = ages_ms[-1]
        self.maturity_index = ages_ms.index(maturity_ms)
        self.period = period_ms
        # Lives started since the last commit are here already (their meta; their events are in delta).
        self.lives: dict[str, PostLife] = {}
        # account_id -> its matured posts' ERs, compact (rows [post_id, platform, content_type, published_at,
        # er, early ERs])
        self.samples = BenchmarkSamples(self.maturity_index)
        self.delta: dict[str, LifeDelta] = {}
        # account_id -> [platform, posts published in the benchmark period], as of the latest close
        self.published: dict[str, list] = {}
        # Lives started by an event, whose record may still come: kept by the live state, the replay of
        # the journal (``merge``) and the snapshot load (``restore``) alike, so a restart adopts it too.
        self._standing_in: set[str] = set()
        self._accounts: dict[str, str] = {}  # one string per account, however many posts hold it
        # Lives past their last-but-one age, in columns (not when the maturity is the last age).
        self.sealed = SealedLives(ages_ms[0] if self.maturity_index < len(ages_ms) - 1 else 0)
        self.sealed_lifetimes = SealedLifetimes(self.sealed, ages_ms)
        self.mark = 0  # the latest close mark advanced to

    # -- the hot path -------------------------------------------------------------------------------
    def add(
        self,
        post_id: str,
        account_id: str,
        platform: str,
        ts: int,
        type_index: int,
        dwell,
        sentiment,
        post_of: PostOf,
        input_since: int,
    ) -> None:
        """``input_since``: the arrival time of the partition's first input (whether a post is complete)."""
        life = self.lives.get(post_id)
        if life is None:
            if self.sealed.groups and self.sealed_lifetimes.add(
                post_id, self.delta, self.mark, ts, type_index, dwell, sentiment
            ):
                return
            life = self._start(post_id, account_id, platform, ts, post_of, input_since)
            if life is None:
                return
        age = ts - life.published_at
        if age >= self.lifetime or life.done >= len(self.ages):  # past its lifetime; or a tombstone
            return
        delta = self.delta.get(post_id)
        if delta is None:
            delta = self.delta[post_id] = LifeDelta()
        segment = bisect.bisect_right(self.ages, age) if age > 0 else 0
        agg = delta.segments.get(segment)
        if agg is None:
            agg = delta.segments[segment] = WindowAggregate()
        agg.add(type_index, dwell, sentiment)
        if ts > delta.max_ts:
            delta.max_ts = ts

    def _start(
        self, post_id: str, account_id: str, platform: str, ts: int, post_of: PostOf, input_since: int
    ) -> PostLife | None:
        record = post_of(post_id)
        account_id = self._accounts.setdefault(account_id, account_id)
        if record is not None:
            published = record["published_at"]
            if ts - published >= self.lifetime:
                return None  # engagement of a post past its lifetime: windows only
            life = PostLife(
                account_id, platform, published, record["content_type"], FROM_RECORD, published >= input_since
            )
        else:
            life = PostLife(
                account_id, platform, ts, UNKNOWN_CONTENT_TYPE, FROM_FIRST_EVENT, ts >= input_since + self.lifetime
            )
            self._standing_in.add(post_id)
        self.lives[post_id] = life
        self.delta[post_id] = LifeDelta(life.meta())
        return life

    # -- commit ---------------------------------------------------------------------------------------
    def adopt_records(self, post_of: PostOf, input_since: int) -> None:
        """Lives started by an event take their post's record once it is known, while every event so
        far stays in the first segment under the record's publication time (else they keep their own)."""
        for post_id in list(self._standing_in):
            life = self.lives.get(post_id)
            if life is None or life.done:
                self._standing_in.discard(post_id)
                continue
            record = post_of(post_id)
            if record is None:
                continue
            self._standing_in.discard(post_id)
            delta = self.delta.get(post_id)
            latest = max(life.max_ts, delta.max_ts if delta is not None else 0)
            published = record["published_at"]
            if latest - published >= self.ages[0]:
                continue
            life.complete = published >= input_since
            life.published_at, life.content_type, life.source = published, record["content_type"], FROM_RECORD
            if delta is None:
                delta = self.delta[post_id] = LifeDelta()
            delta.meta = life.meta()

    def take_delta(self) -> dict[str, LifeDelta]:
        delta, self.delta = self.delta, {}
        return delta

    def merge(self, delta: dict[str, LifeDelta]) -> None:
        """Fold a commit's delta in (its aggregates are handed over, not copied). A meta starts the
        life (a replay) or replaces the one it has (a record adopted)."""
        for post_id, change in delta.items():
            life = self.lives.get(post_id)
            if change.meta is not None:
                if life is None:
                    life = self.lives[post_id] = PostLife(*change.meta)
                else:
                    (
                        life.account_id,
                        life.platform,
                        life.published_at,
                        life.content_type,
                        life.source,
                        life.complete,
                    ) = change.meta
                self._track_standing_in(post_id, life)
            if life is None:
                self.sealed_lifetimes.merge(post_id, change)
                continue
            if change.max_ts > life.max_ts:
                life.max_ts = change.max_ts
            for segment, agg in change.segments.items():
                life.add_segment(segment, agg)

    def knows(self, post_id: str) -> bool:
        """Whether the post has a life (young, sealed or a tombstone)."""
        return post_id in self.lives or self.sealed.find(post_id) is not None

    def find(self, post_id: str) -> PostLife | None:
        """The post's life (a sealed one rebuilt: its meta, ages done, total and final segment)."""
        life = self.lives.get(post_id)
        if life is not None or not self.sealed.groups:
            return life
        return self.sealed_lifetimes.find(post_id, self.mark)

    def count(self) -> int:
        """Posts with a life, tombstones included."""
        return len(self.lives) + self.sealed.count()

    def restore(self, lives: dict[str, PostLife]) -> None:
        """Start from a snapshot's lives."""
        self.lives = lives
        self._standing_in.clear()
        for post_id, life in lives.items():
            self._track_standing_in(post_id, life)

    def _track_standing_in(self, post_id: str, life: PostLife) -> None:
        if life.source == FROM_FIRST_EVENT and not life.done:
            self._standing_in.add(post_id)
        else:
            self._standing_in.discard(post_id)

    def advance(self, mark: int, on_age: Callable[[str, PostLife, int], None] | None = None) -> None:
        """Publish (through ``on_age(post_id, life, age_index)``; a replay passes None) the ages that
        the close mark has passed; seal the lives past their last-but-one age; drop tombstones and
        samples past the benchmark period; count each account's posts of the benchmark period
        (``published``)."""
        ages, n = self.ages, len(self.ages)
        previous, self.mark = self.mark, mark
        sealed = self.sealed
        boundary = sealed.boundary(mark, ages[-2]) if sealed.span else None
        gone, sealing = [], []
        published: dict[str, list] = {}
        since = mark - self.period
        for post_id, life in self.lives.items():
            if life.published_at > since:
                count = published.get(life.account_id)
                if count is None:
                    published[life.account_id] = [life.platform, 1]
                else:
                    count[1] += 1
            if life.done < n:
                while life.done < n and life.published_at + ages[life.done] <= mark:
                    segment = life.pop_segment(life.done)
                    if segment is not None:
                        life.merge_total(segment)
                    if life.done < self.maturity_index:
                        life.reached.append(0 if life.total is None else engaged_count(life.total, self.engaged_types))
                    if on_age is not None:
                        on_age(post_id, life, life.done)
                    life.done += 1
                if life.done >= n:
                    life.total, life.segments, life.reached = None, {}, []
            elif life.published_at + self.lifetime + self.period <= mark:
                gone.append(post_id)
                continue
            if boundary is not None and life.published_at < boundary:
                sealing.append(post_id)
        for post_id in gone:
            del self.lives[post_id]
        self.sealed_lifetimes.publish_due(previous, mark, on_age)
        sealed.published_since(since, published)
        if sealing:
            self._standing_in.difference_update(sealing)
            self.sealed_lifetimes.seal(self.lives, sealing)
            self.lives = dict(self.lives)  # a dict keeps its table when emptied: hand the sealed ones' back
        sealed.end_and_expire(mark, self.lifetime, self.period)
        self.published = published
        self.samples.seal_and_expire(mark - self.period)

    def add_sample(self, account_id: str, sample: list) -> None:
        self.samples.add(account_id, sample)

    def memory_bytes(self) -> int:
        """An estimate from measured sizes (docs/performance.md): a young life, an aggregate; the
        sealed lives' and the samples' columns as they are."""
        held = [life.held() for life in self.lives.values()]
        aggregates = PACKED_BYTES * sum(p for p, _ in held) + AGGREGATE_BYTES * sum(w for _, w in held)
        return LIFE_BYTES * len(self.lives) + aggregates + self.sealed.nbytes + self.samples.nbytes
