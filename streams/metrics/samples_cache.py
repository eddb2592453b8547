"""What a gauge family makes of each account's benchmark samples, kept from one close to the next and
made again only for the accounts whose samples changed: a week's samples (199,000 at 2,000 accounts)
read at every close held the event loop 7-10 s, past the consumer's session."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Generic, TypeVar

Summary = TypeVar("Summary")


class SamplesCache(Generic[Summary]):
    """account_id -> ``summarize(its samples)``. An entry holds on to the samples object it was made
    from and that object's ``version`` (streams/state/benchmark_samples.py): restored samples are a new
    object, and a sequence without a version (a list) is summarized at every call."""

    def __init__(self, summarize: Callable[[Sequence], Summary]):
        self.summarize = summarize
        self.entries: dict[str, tuple[Sequence, int | None, Summary]] = {}

    def of(self, samples: Mapping[str, Sequence], accounts: Iterable[str]) -> dict[str, Summary]:
        """The summaries of ``accounts`` (keys of ``samples``); the others' entries are dropped."""
        entries, kept = self.entries, {}
        for account_id in accounts:
            items = samples[account_id]
            version = getattr(items, "version", None)
            entry = entries.get(account_id)
            if entry is None or version is None or entry[0] is not items or entry[1] != version:
                entry = (items, version, self.summarize(items))
            kept[account_id] = entry
        self.entries = kept
        return {account_id: entry[2] for account_id, entry in kept.items()}
