"""The engine's state of one input partition: the open windows, the dedup memory, the close mark.

Events fold into a *delta* (per window and key) that is merged into the state once per commit and
journaled then: one changelog entry per partition per commit, not one write per event (the format:
``streams.state.journal``). Replaying the journal (``apply_journal``) rebuilds exactly the state that
the commits built, closed windows included, so a restarted or rebalanced worker neither loses a
window nor emits one twice.

Windows close by the wall clock: a tumbling window [start, end) is final once end + grace has passed.
The rolling per-account window is the merge of the tumbling account buckets of its span; one rolling
record per step (= tumbling window length) per account with traffic in the span.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..contract import POST_LEVEL_TYPES, TYPE_INDEX
from ..model.aggregates import COMMENT, WindowAggregate
from ..model.rates import engaged_count, rates
from . import journal
from .journal import Buckets
from .mentions import OpenMentions
from .window import WindowConfig

DWELL, MENTION, REPLY = TYPE_INDEX["dwell"], TYPE_INDEX["mention"], TYPE_INDEX["reply"]
POST_LEVEL_INDEXES = frozenset(TYPE_INDEX[t] for t in POST_LEVEL_TYPES)

COUNTED, DUPLICATE, LATE = "counted", "duplicate", "late"

FollowersOf = Callable[[str], "int | None"]


@dataclass
class Commit:
    journal: dict | None  # the state changes to journal; None when nothing changed
    post_records: list[dict]
    account_records: list[dict]
    mention_changes: dict  # event_id -> (account_id, ts) opened, or None closed


class PartitionState:
    def __init__(self, partition: int, config: WindowConfig, closed_through: int = 0):
        self.partition = partition
        self.config = config
        self.posts: Buckets = {}
        self.accounts: Buckets = {}
        self.seen: dict[str, int] = {}  # event_id -> processing time (ms), oldest first
        self.closed_through = closed_through
        # The first close mark this partition's state has known: rolling windows that start before it
        # hold only part of their span (the service was not counting yet).
        self.counting_since = closed_through or None
        # The input offset this state has read up to, as journalled with it: a restore resumes there
        # even when the group's committed offset is not readable yet (it commits in the same transaction).
        self.input_offset: int | None = None
        self._delta_posts: Buckets = {}
        self._delta_accounts: Buckets = {}
        self._delta_seen: list[tuple[str, int]] = []
        self.mentions = OpenMentions()

    # -- the hot path -------------------------------------------------------------------------
    def add(self, event: dict, now_ms: int) -> str:
        event_id = event["event_id"]
        if event_id in self.seen:
            return DUPLICATE
        window_ms = self.config.window_ms
        ts = event["ts_ms"]
        start = ts - ts % window_ms
        if start + window_ms <= self.closed_through:
            return LATE
        self.seen[event_id] = now_ms
        self._delta_seen.append((event_id, now_ms))
        type_index = TYPE_INDEX[event["type"]]
        dwell = event["dwell_ms"] if type_index == DWELL else None
        sentiment = event.get("sentiment") if type_index == COMMENT or type_index == MENTION else None
        post_id = event["post_id"] if type_index in POST_LEVEL_INDEXES else None
        account_id = event["account_id"]
        if post_id is not None:
            bucket = self._delta_posts.get(start)
            if bucket is None:
                bucket = self._delta_posts[start] = {}
            entry = bucket.get(post_id)
            if entry is None:
                entry = bucket[post_id] = [account_id, event["platform"], WindowAggregate()]
            entry[2].add(type_index, dwell, sentiment)
        bucket = self._delta_accounts.get(start)
        if bucket is None:
            bucket = self._delta_accounts[start] = {}
        entry = bucket.get(account_id)
        if entry is None:
            entry = bucket[account_id] = [event["platform"], WindowAggregate(track_posts=True)]
        entry[1].add(type_index, dwell, sentiment, post_id)
        if type_index == MENTION:
            self.mentions.mention(event_id, account_id, ts)
        elif type_index == REPLY:
            self.mentions.reply(event["in_reply_to"])
        return COUNTED

    # -- commit: merge the delta, journal it, close windows --------------------------------------
    def commit(self, now_ms: int, followers_of: FollowersOf, close_at_ms: int | None = None,
               input_offset: int | None = None) -> "Commit":
        """Merge and journal the delta, and close the windows whose grace has passed at close_at_ms
        (default now_ms; the engine passes the input's arrival time while it catches up).
        ``input_offset``: the next input offset, when this commit moves it."""
        entry = journal.encode(self._delta_posts, self._delta_accounts, self._delta_seen)
        if input_offset is not None:
            entry["o"] = self.input_offset = input_offset
        _merge_buckets(self.posts, self._delta_posts)
        _merge_buckets(self.accounts, self._delta_accounts)
        self._delta_posts, self._delta_accounts, self._delta_seen = {}, {}, []
        post_records: list[dict] = []
        account_records: list[dict] = []
        mark = self.config.close_mark(now_ms if close_at_ms is None else close_at_ms)
        if mark > self.closed_through:
            self._close(mark, now_ms, followers_of, post_records, account_records)
            entry["c"] = mark
        elif entry:
            entry["c"] = self.closed_through  # a replay must know the mark even if this commit kept it
        if entry:
            entry["n"] = now_ms  # a replay expires the dedup memory as this commit does
        self._expire_seen(now_ms)
        self.mentions.expire(now_ms)
        return Commit(entry or None, post_records, account_records, self.mentions.take_changes())

    def _close(self, mark: int, now_ms: int, followers_of: FollowersOf,
               post_records: list[dict], account_records: list[dict]) -> None:
        cfg = self.config
        for start in sorted(s for s in self.posts if s + cfg.window_ms <= mark):
            for post_id, (account_id, platform, agg) in self.posts.pop(start).items():
                post_records.append(self._record("post", "tumbling", start, start + cfg.window_ms, agg,
                                                 account_id, platform, followers_of(account_id), now_ms,
                                                 post_id=post_id))
        for start in sorted(self.accounts):
            end = start + cfg.window_ms
            if self.closed_through < end <= mark:
                for account_id, (platform, agg) in self.accounts[start].items():
                    account_records.append(self._record("account", "tumbling", start, end, agg, account_id,
                                                        platform, followers_of(account_id), now_ms))
        for end in self._rolling_ends(mark):
            for account_id, (platform, agg) in self._rolling(end - cfg.rolling_ms, end).items():
                account_records.append(self._record("account", "rolling", end - cfg.rolling_ms, end, agg,
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

    def _rolling(self, start: int, end: int, include_delta: bool = False) -> dict[str, list]:
        merged: dict[str, list] = {}
        sources = [self.accounts, self._delta_accounts] if include_delta else [self.accounts]
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

    def _expire_seen(self, now_ms: int) -> None:
        cutoff = now_ms - self.config.dedup_ms
        expired = []
        for event_id, seen_at in self.seen.items():
            if seen_at > cutoff:
                break
            expired.append(event_id)
        for event_id in expired:
            del self.seen[event_id]

    def _record(self, scope: str, kind: str, start: int, end: int, agg: WindowAggregate, account_id: str,
                platform: str, followers: int | None, now_ms: int, post_id: str | None = None) -> dict:
        engaged = engaged_count(agg, self.config.engaged_types)
        record = {"scope": scope, "window_kind": kind, "window_start": start, "window_end": end,
                  "account_id": account_id, "platform": platform, "followers": followers,
                  "counts": agg.counts_by_type(),
                  "engaged": engaged,
                  "dwell_ms_sum": agg.dwell_ms_sum, "dwell_count": agg.dwell_count,
                  "sentiment_sum": agg.sentiment_sum, "sentiment_count": agg.sentiment_count,
                  "sentiment_negative": agg.sentiment_negative,
                  "rates": rates(agg, followers, self.config.engaged_types, engaged),
                  "emitted_at": now_ms}
        if post_id is not None:
            record = {"post_id": post_id, **record}
        else:
            record["active_posts"] = len(agg.posts)
        return record

    # -- restore ----------------------------------------------------------------------------------
    def apply_journal(self, raw: dict) -> None:
        """Redo one committed entry: the same merges and closes as ``commit``, without emitting."""
        entry = journal.decode(raw)
        _merge_buckets(self.posts, entry.posts)
        _merge_buckets(self.accounts, entry.accounts)
        for event_id, seen_at in entry.seen:
            self.seen.pop(event_id, None)  # keep the dict in first-seen order, as add() does
            self.seen[event_id] = seen_at
        if entry.input_offset is not None:
            self.input_offset = max(self.input_offset or 0, entry.input_offset)
        if entry.close_mark is not None:
            if self.counting_since is None:
                self.counting_since = entry.close_mark
            if entry.close_mark > self.closed_through:
                self._apply_close(entry.close_mark)
        if entry.committed_at is not None:
            self._expire_seen(entry.committed_at)

    # -- live reads (HTTP query API) ----------------------------------------------------------------
    def live_post(self, post_id: str, now_ms: int, followers_of: FollowersOf) -> list[dict]:
        windows = []
        for start in sorted(set(self.posts) | set(self._delta_posts)):
            combined = _combine(e.get(post_id) for e in (self.posts.get(start, {}),
                                                          self._delta_posts.get(start, {})))
            if combined is not None:
                account_id, platform, agg = combined
                windows.append(self._record("post", "tumbling", start, start + self.config.window_ms, agg,
                                            account_id, platform, followers_of(account_id), now_ms,
                                            post_id=post_id))
        return windows

    def live_account(self, account_id: str, rolling: bool, now_ms: int,
                     followers_of: FollowersOf) -> list[dict]:
        cfg = self.config
        if rolling:
            end = now_ms - now_ms % cfg.window_ms + cfg.window_ms
            slot = self._rolling(end - cfg.rolling_ms, end, include_delta=True).get(account_id)
            if slot is None:
                return []
            return [self._record("account", "rolling", end - cfg.rolling_ms, end, slot[1], account_id,
                                 slot[0], followers_of(account_id), now_ms)]
        windows = []
        for start in sorted(set(self.accounts) | set(self._delta_accounts)):
            if start + cfg.window_ms <= self.closed_through:
                continue  # kept for the rolling window only; its tumbling record is out already
            combined = _combine(e.get(account_id) for e in (self.accounts.get(start, {}),
                                                             self._delta_accounts.get(start, {})))
            if combined is not None:
                platform, agg = combined
                windows.append(self._record("account", "tumbling", start, start + cfg.window_ms, agg,
                                            account_id, platform, followers_of(account_id), now_ms))
        return windows

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


def _combine(entries) -> list | None:
    """Sum of the (state, delta) entries of one key, as a fresh entry; None when neither exists."""
    combined = None
    for entry in entries:
        if entry is None:
            continue
        if combined is None:
            combined = [*entry[:-1], entry[-1].copy()]
        else:
            combined[-1].merge(entry[-1])
    return combined
