"""The window buckets of a partition's state: {window_start_ms: {key: entry}}, a post entry per post
id, an account entry per account id. An entry carries its owner's fields beside the aggregate, so
that a final record needs no lookup."""

from __future__ import annotations

from ..model.aggregates import WindowAggregate


class PostEntry:
    __slots__ = ("account_id", "platform", "agg")

    def __init__(self, account_id: str, platform: str, agg: WindowAggregate):
        self.account_id, self.platform, self.agg = account_id, platform, agg

    def copy(self) -> PostEntry:
        return PostEntry(self.account_id, self.platform, self.agg.copy())


class AccountEntry:
    __slots__ = ("platform", "agg")

    def __init__(self, platform: str, agg: WindowAggregate):
        self.platform, self.agg = platform, agg

    def copy(self) -> AccountEntry:
        return AccountEntry(self.platform, self.agg.copy())


Buckets = dict  # {window_start_ms: {post_id or account_id: PostEntry or AccountEntry}}


def merge_buckets(into: Buckets, delta: Buckets) -> None:
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
                existing.agg.merge(entry.agg)
