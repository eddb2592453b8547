"""Open mentions, the replies that acknowledge them and the resolves that close them (DOMAIN.md,
listening and response: acknowledge and resolve are two steps).

A mention is open until the first reply that points at it (``in_reply_to``) acknowledges it; its
response time is that reply's ts minus the mention's. It stays unresolved until a resolve event points
at it (``resolves``): after a reply, or without one when it needs no answer (closed without answer).
With ``reply_resolves`` (producers that send no resolve events) a reply closes the mention too.

A reply or resolve read before its mention (out of order, across a restart) waits for it; once the
close mark has passed its window, no mention it could point at can still be counted, and it is dropped
as unmatched. An unresolved mention older than the retention is dropped as expired.

All of it outlives the windows by days, so it is kept in a compacted topic of its own rather than in
the journal: each change is a record keyed by the mention's event_id, its value ``["m", account_id,
ts]`` (open), ``["a", account_id, ts]`` (acknowledged, not resolved), ``["r", account_id, reply_ts,
platform, resolve_ts]`` (a reply and/or a resolve waiting; null for the one not read; a deployed topic
also holds the 4-element form of a reply alone), or None (closed).

The unresolved mentions are held compactly by their id's 64-bit fingerprint (``mention_store``); the
records a restore reads are applied at once, before anything else is asked (``_settle``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .intern import InternTable
from .mention_store import (
    ACKNOWLEDGED as HELD_ACKNOWLEDGED,
    OPEN as HELD_OPEN,
    MentionStore,
    mention_key,
    mention_keys,
)

OPEN, ACKNOWLEDGED, WAITING = "m", "a", "r"
_TAG = {HELD_OPEN: OPEN, HELD_ACKNOWLEDGED: ACKNOWLEDGED}
RESTORE_CHUNK = 16_384  # a restore's records applied at once


@dataclass
class MentionScan:
    """Per account with a mention past an SLA: [past acknowledge, past resolve, oldest such ts]."""

    overdue: dict[str, list] = field(default_factory=dict)
    expired: int = 0  # unresolved mentions dropped by this scan (older than the retention)


@dataclass(frozen=True, slots=True)
class Waited:
    """What was waiting for a mention when it was read: its reply (ts and platform) and whether a
    resolve (or, with ``reply_resolves``, the reply) closes it."""

    reply_ts: int | None
    platform: str | None
    resolved: bool


class OpenMentions:
    def __init__(
        self,
        acknowledge_ms: int,
        resolve_ms: int,
        retention_ms: int,
        reply_resolves: bool = False,
        held: MentionStore | None = None,
        restore_chunk: int = RESTORE_CHUNK,
    ):
        self.acknowledge_ms, self.resolve_ms, self.retention_ms = acknowledge_ms, resolve_ms, retention_ms
        self.reply_resolves = reply_resolves
        self.accounts = InternTable()
        self.held = MentionStore() if held is None else held  # open and acknowledged mentions
        # mention id -> (account_id, reply ts, reply platform, resolve ts), None for the one not read
        self.waiting: dict[str, tuple[str, int | None, str | None, int | None]] = {}
        self._changes: dict[str, list | None] = {}
        self._expired = 0  # of the changes: mentions expired by a scan
        self._restored = _RestoredRecords()
        self.restore_chunk = restore_chunk

    @property
    def open_count(self) -> int:
        self.settle()
        return self.held.counts[HELD_OPEN]

    @property
    def acknowledged_count(self) -> int:
        self.settle()
        return self.held.counts[HELD_ACKNOWLEDGED]

    def find(self, event_id: str) -> tuple[str, str, int] | None:
        """The unresolved mention of this id: (OPEN or ACKNOWLEDGED, account_id, ts)."""
        self.settle()
        held = self.held.get(mention_key(event_id))
        return None if held is None else (_TAG[held[0]], self.accounts.names[held[1]], held[2])

    def unresolved(self) -> dict[int, tuple[str, str, int]]:
        """Every unresolved mention by its key (``mention_key``): (state, account_id, ts)."""
        self.settle()
        ids = self.accounts.names
        return {key: (_TAG[state], ids[account], ts) for key, (state, account, ts) in self.held.entries().items()}

    def mention(self, event_id: str, account_id: str, ts: int) -> Waited | None:
        """Open a mention; what was waiting for it, if anything (it acknowledges or closes it at once)."""
        self.settle()
        account = self.accounts.of(account_id)
        account_id = self.accounts.names[account]
        key = mention_key(event_id)
        waiting = self.waiting.pop(event_id, None)
        if waiting is None:
            self.held.put(key, event_id, account, ts, HELD_OPEN)
            self._changes[event_id] = [OPEN, account_id, ts]
            return None
        _, reply_ts, platform, resolve_ts = waiting
        resolved = resolve_ts is not None or (reply_ts is not None and self.reply_resolves)
        if resolved:
            self.held.remove(key)
            self._changes[event_id] = None
        else:
            self.held.put(key, event_id, account, ts, HELD_ACKNOWLEDGED)
            self._changes[event_id] = [ACKNOWLEDGED, account_id, ts]
        return Waited(reply_ts, platform, resolved)

    def reply(self, mention_id: str, account_id: str, ts: int, platform: str) -> int | None:
        """Acknowledge the open mention replied to (with ``reply_resolves``, close it): its ts. A
        second reply is no new response; one to a mention not read yet waits for it."""
        self.settle()
        key = mention_key(mention_id)
        held = self.held.get(key)
        if held is not None and held[0] == HELD_OPEN:
            _, account, mention_ts = held
            if self.reply_resolves:
                self.held.remove(key)
                self._changes[mention_id] = None
            else:
                self.held.acknowledge(key)
                self._changes[mention_id] = [ACKNOWLEDGED, self.accounts.names[account], mention_ts]
            return mention_ts
        if held is None:
            waiting = self.waiting.get(mention_id)
            if waiting is None or waiting[1] is None:
                resolve_ts = None if waiting is None else waiting[3]
                self._wait(mention_id, account_id, ts, platform, resolve_ts)
        return None

    def resolve(self, mention_id: str, account_id: str, ts: int) -> bool | None:
        """Close the mention: whether it had been answered; None when nothing closed now (a resolve
        read before its mention waits for it, a second one changes nothing)."""
        self.settle()
        key = mention_key(mention_id)
        held = self.held.get(key)
        if held is not None:
            self.held.remove(key)
            self._changes[mention_id] = None
            return held[0] == HELD_ACKNOWLEDGED
        waiting = self.waiting.get(mention_id)
        if waiting is None:
            self._wait(mention_id, account_id, None, None, ts)
        elif waiting[3] is None:
            self._wait(mention_id, waiting[0], waiting[1], waiting[2], ts)
        return None

    def _wait(
        self, mention_id: str, account_id: str, reply_ts: int | None, platform: str | None, resolve_ts: int | None
    ):
        account_id = self.accounts.names[self.accounts.of(account_id)]
        self.waiting[mention_id] = (account_id, reply_ts, platform, resolve_ts)
        self._changes[mention_id] = [WAITING, account_id, reply_ts, platform, resolve_ts]

    def drop_unmatched(self, counted_from: int) -> int:
        """Drop what waits with its first ts before ``counted_from`` (the start of the oldest window
        still open): a mention it could point at is older, so it would be late. How many."""
        gone = [
            mention_id
            for mention_id, (_, reply_ts, _, resolve_ts) in self.waiting.items()
            if min(t for t in (reply_ts, resolve_ts) if t is not None) < counted_from
        ]
        for mention_id in gone:
            del self.waiting[mention_id]
            self._changes[mention_id] = None
        return len(gone)

    def scan(self, now_ms: int) -> MentionScan:
        """Expire what is past the retention, and count what is past the SLAs: an open mention is
        past both, an acknowledged one only the resolve SLA (neither expires before it is counted)."""
        self.settle()
        acknowledge_before, resolve_before = now_ms - self.acknowledge_ms, now_ms - self.resolve_ms
        expire_before = now_ms - self.retention_ms
        expired = self.held.expire(min(expire_before, acknowledge_before), min(expire_before, resolve_before))
        for mention_id in expired:
            self._changes[mention_id] = None
        self._expired += len(expired)
        overdue: dict[int, list] = {}
        for states, accounts, ts in self.held.columns():
            _count_overdue(states, accounts, ts, acknowledge_before, resolve_before, overdue)
        ids = self.accounts.names
        return MentionScan({ids[account]: counts for account, counts in overdue.items()}, len(expired))

    def take_expired(self) -> int:
        """How many of the changes since the last call expire a mention (they commit with them)."""
        expired, self._expired = self._expired, 0
        return expired

    def take_changes(self) -> dict[str, list | None]:
        """The changes since the last call, for the compacted topic (None: closed)."""
        changes, self._changes = self._changes, {}
        return changes

    def restore(self, mention_id: str, value: list | None) -> None:
        """Apply one record of the compacted topic (a restore reads them in order)."""
        if self.waiting:
            self.waiting.pop(mention_id, None)
        if value is not None and value[0] == WAITING and len(value) > 3:
            account_id, reply_ts, platform, resolve_ts = (*value[1:], None)[:4]  # a reply alone: 4 elements
            account_id = self.accounts.names[self.accounts.of(account_id)]
            self.waiting[mention_id] = (account_id, reply_ts, platform, resolve_ts)
            value = None  # no mention held
        self._restored.ids.append(mention_id)
        self._restored.values.append(value)
        if len(self._restored.ids) >= self.restore_chunk:
            self.settle()  # held as JSON until applied, a week's 400,000 records took ~125 MB

    def settle(self) -> None:
        """Apply the records restored since the last call: the latest one per key wins."""
        if self._restored.ids:
            self._restored.apply(self.held, self.accounts)
            self._restored = _RestoredRecords()


def _count_overdue(states, accounts, ts, acknowledge_before: int, resolve_before: int, overdue: dict) -> None:
    """Add these mentions' [past acknowledge, past resolve, oldest ts] per account into ``overdue``."""
    past_acknowledge = (states == HELD_OPEN) & (ts < acknowledge_before)
    counted = np.flatnonzero(past_acknowledge | ((states == HELD_ACKNOWLEDGED) & (ts < resolve_before)))
    if not len(counted):
        return
    account, counted_ts = accounts[counted], ts[counted]
    by_account = np.lexsort((counted_ts, account))  # per account, the oldest first
    account, counted_ts = account[by_account], counted_ts[by_account]
    first = np.flatnonzero(np.r_[True, account[1:] != account[:-1]])
    acknowledge_counts = np.add.reduceat(past_acknowledge[counted][by_account].astype(np.int64), first)
    resolve_counts = np.add.reduceat((counted_ts < resolve_before).astype(np.int64), first)
    for a, acks, resolves, oldest in zip(
        account[first].tolist(),
        acknowledge_counts.tolist(),
        resolve_counts.tolist(),
        counted_ts[first].tolist(),
        strict=True,
    ):
        counts = overdue.get(a)
        if counts is None:
            overdue[a] = [acks, resolves, oldest]
        else:
            counts[0] += acks
            counts[1] += resolves
            counts[2] = min(counts[2], oldest)


class _RestoredRecords:
    """The records a restore read, until they are applied at once (a record per step would search
    the arrays each time). A value: [account_id, ts] (an open mention as the topic held it before
    replies waited there), [OPEN or ACKNOWLEDGED, account_id, ts], or None: none held."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.values: list[list | None] = []

    def apply(self, store: MentionStore, accounts: InternTable) -> None:
        keys = mention_keys(self.ids)
        distinct, last_reversed = np.unique(keys[::-1], return_index=True)
        for key in store.held_keys(distinct):
            store.remove(key)  # replaced by its latest record (an earlier chunk's, or a live state's)
        latest = np.sort(len(keys) - 1 - last_reversed).tolist()
        values = [self.values[i] for i in latest]
        kept = [i for i, value in zip(latest, values, strict=True) if value is not None]
        values = [value for value in values if value is not None]
        store.add_many(
            keys[kept],
            [self.ids[i] for i in kept],
            np.fromiter((accounts.of(v[-2]) for v in values), np.uint32, len(values)),
            np.fromiter((v[-1] for v in values), np.int64, len(values)),
            np.fromiter(
                (HELD_ACKNOWLEDGED if len(v) == 3 and v[0] == ACKNOWLEDGED else HELD_OPEN for v in values),
                np.uint8,
                len(values),
            ),
        )
