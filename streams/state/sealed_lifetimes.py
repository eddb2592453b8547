"""The lifetime rules applied to the sealed lives (``sealed_lives``): sealing young lives into groups,
an event or a replayed delta of a sealed post into its final segment, a sealed post's life rebuilt
(the live view, the records of its last age)."""

from __future__ import annotations

from collections.abc import Callable

from ..model.aggregates import WindowAggregate
from .aggregate_rows import aggregate_row
from .post_life import LifeDelta, PostLife
from .sealed_lives import SealedGroup, SealedLives, post_fingerprint


class SealedLifetimes:
    """``sealed``: the columns (shared with the snapshot and its loader); ``ages``: the record ages."""

    def __init__(self, sealed: SealedLives, ages: tuple[int, ...]):
        self.sealed = sealed
        self.ages = ages
        self.lifetime = ages[-1]
        self.final = len(ages) - 1  # the segment index of the last age: the one a sealed life has left

    def add(
        self, post_id: str, delta: dict[str, LifeDelta], mark: int, ts: int, type_index: int, dwell, sentiment
    ) -> bool:
        """Whether the post is sealed. An event of it goes into its final segment while its lifetime
        lasts (one of a segment already published, possible only for a post published just before
        the boundary, is dropped)."""
        found = self.sealed.find(post_id)
        if found is None:
            return False
        group, i = found
        published = group.published_at(i)
        age = ts - published
        if group.ended or published + self.lifetime <= mark or not self.ages[-2] <= age < self.lifetime:
            return True
        change = delta.get(post_id)
        if change is None:
            change = delta[post_id] = LifeDelta()
        agg = change.segments.get(self.final)
        if agg is None:
            agg = change.segments[self.final] = WindowAggregate()
        agg.add(type_index, dwell, sentiment)
        if ts > change.max_ts:
            change.max_ts = ts
        return True

    def merge(self, post_id: str, change: LifeDelta) -> None:
        """A replayed delta of a post without a young life: its final segment, if the post is sealed."""
        final = change.segments.get(self.final)
        found = self.sealed.find(post_id) if final is not None else None
        if final is None or found is None or found[0].ended:
            return
        self.sealed.finals.merge((found[0].start, found[1]), final)

    def find(self, post_id: str, mark: int) -> PostLife | None:
        """The sealed post's life rebuilt: its meta, ages done, total and final segment (read from the
        columns: a change to it is not kept; a sealed post's events reach its final through ``merge``)."""
        found = self.sealed.find(post_id)
        if found is None:
            return None
        group, i = found
        life = self.life(group, i)
        if group.ended or group.published_at(i) + self.lifetime <= mark:
            life.done = len(self.ages)
        else:
            life.total = group.total(i)
            final = self.sealed.finals.get((group.start, i))
            if final is not None:
                life.add_segment(self.final, final)
        return life

    def life(self, group: SealedGroup, i: int) -> PostLife:
        """The meta of the post at ``i`` of ``group``, every age but the last done."""
        platform, content_type, source, complete = self.sealed.kinds[int(group.kinds[i])]
        life = PostLife(
            self.sealed.accounts[int(group.accounts[i])],
            platform,
            group.published_at(i),
            content_type,
            source,
            complete,
        )
        life.done = self.final
        return life

    def publish_due(self, previous: int, mark: int, on_age: Callable[[str, PostLife, int], None] | None) -> None:
        """The last age of each sealed post whose lifetime ends in (previous, mark], through ``on_age``
        (a replay passes None); their final segments dropped."""
        for group, i, final in self.sealed.due(previous, mark, self.lifetime):
            if on_age is None:
                continue
            life = self.life(group, i)
            life.total = group.total(i) if final is None else group.total(i).merge(final)
            on_age(group.post_id(i), life, self.final)

    def seal(self, lives: dict[str, PostLife], post_ids: list[str]) -> None:
        """Move these lives (each past its last-but-one age) out of ``lives`` into groups by publication
        span; a life that got there after its group was sealed (started late) is appended to it."""
        sealed = self.sealed
        groups: dict[int, list[str]] = {}
        for post_id in post_ids:
            published = lives[post_id].published_at
            groups.setdefault(published - published % sealed.span, []).append(post_id)
        made = []
        for start, members in groups.items():
            columns: list[list] = [[] for _ in range(7)]
            old = sealed.groups.get(start)
            base = 0 if old is None else len(old)
            for i, post_id in enumerate(members, base):
                life = lives.pop(post_id)
                counts, sums, tallies = aggregate_row(life.total)
                row = (
                    post_fingerprint(post_id),
                    life.published_at - start,
                    sealed.account(life.account_id, life.platform),
                    sealed.kind((life.platform, life.content_type, life.source, life.complete)),
                    counts,
                    sums,
                    tallies,
                )
                for column, value in zip(columns, row):
                    column.append(value)
                final = life.segment(self.final)
                if final is not None and life.done < len(self.ages):
                    sealed.finals.set((start, i), final)
            group = SealedGroup(start, *columns)
            group.set_ids(members)
            made.append(group if old is None else old.extended(group))
        if made:
            sealed.add_many(made)
