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
"""

from __future__ import annotations

from dataclasses import dataclass, field

OPEN, ACKNOWLEDGED, WAITING = "m", "a", "r"


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
    def __init__(self, acknowledge_ms: int, resolve_ms: int, retention_ms: int, reply_resolves: bool = False):
        self.acknowledge_ms, self.resolve_ms, self.retention_ms = acknowledge_ms, resolve_ms, retention_ms
        self.reply_resolves = reply_resolves
        self.open: dict[str, tuple[str, int]] = {}  # mention id -> (account_id, ts): no reply, no resolve
        self.acknowledged: dict[str, tuple[str, int]] = {}  # mention id -> (account_id, ts): replied to
        # mention id -> (account_id, reply ts, reply platform, resolve ts), None for the one not read
        self.waiting: dict[str, tuple[str, int | None, str | None, int | None]] = {}
        self._changes: dict[str, list | None] = {}
        self._expired = 0  # of the changes: mentions expired by a scan
        self._accounts: dict[str, str] = {}  # one string per account, however many mentions hold it

    def mention(self, event_id: str, account_id: str, ts: int) -> Waited | None:
        """Open a mention; what was waiting for it, if anything (it acknowledges or closes it at once)."""
        account_id = self._accounts.setdefault(account_id, account_id)
        waiting = self.waiting.pop(event_id, None)
        if waiting is None:
            self.open[event_id] = (account_id, ts)
            self._changes[event_id] = [OPEN, account_id, ts]
            return None
        _, reply_ts, platform, resolve_ts = waiting
        resolved = resolve_ts is not None or (reply_ts is not None and self.reply_resolves)
        if resolved:
            self._changes[event_id] = None
        else:
            self.acknowledged[event_id] = (account_id, ts)
            self._changes[event_id] = [ACKNOWLEDGED, account_id, ts]
        return Waited(reply_ts, platform, resolved)

    def reply(self, mention_id: str, account_id: str, ts: int, platform: str) -> int | None:
        """Acknowledge the open mention replied to (with ``reply_resolves``, close it): its ts. A
        second reply is no new response; one to a mention not read yet waits for it."""
        mention = self.open.pop(mention_id, None)
        if mention is not None:
            if self.reply_resolves:
                self._changes[mention_id] = None
            else:
                self.acknowledged[mention_id] = mention
                self._changes[mention_id] = [ACKNOWLEDGED, *mention]
            return mention[1]
        if mention_id not in self.acknowledged:
            waiting = self.waiting.get(mention_id)
            if waiting is None or waiting[1] is None:
                resolve_ts = None if waiting is None else waiting[3]
                self._wait(mention_id, account_id, ts, platform, resolve_ts)
        return None

    def resolve(self, mention_id: str, account_id: str, ts: int) -> bool | None:
        """Close the mention: whether it had been answered; None when nothing closed now (a resolve
        read before its mention waits for it, a second one changes nothing)."""
        for unresolved, answered in ((self.open, False), (self.acknowledged, True)):
            if unresolved.pop(mention_id, None) is not None:
                self._changes[mention_id] = None
                return answered
        waiting = self.waiting.get(mention_id)
        if waiting is None:
            self._wait(mention_id, account_id, None, None, ts)
        elif waiting[3] is None:
            self._wait(mention_id, waiting[0], waiting[1], waiting[2], ts)
        return None

    def _wait(
        self, mention_id: str, account_id: str, reply_ts: int | None, platform: str | None, resolve_ts: int | None
    ):
        account_id = self._accounts.setdefault(account_id, account_id)
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
        """Expire what is past the retention, and count what is past the SLAs, in one pass: an open
        mention is past both, an acknowledged one only the resolve SLA."""
        expire_before = now_ms - self.retention_ms
        acknowledge_before, resolve_before = now_ms - self.acknowledge_ms, now_ms - self.resolve_ms
        result = MentionScan()
        overdue = result.overdue
        for unresolved, counted_before, past_acknowledge in (
            (self.open, acknowledge_before, 1),
            (self.acknowledged, resolve_before, 0),
        ):
            expired = []
            for mention_id, (account_id, ts) in unresolved.items():
                if ts >= counted_before:
                    continue
                if ts < expire_before:
                    expired.append(mention_id)
                    continue
                counts = overdue.get(account_id)
                if counts is None:
                    counts = overdue[account_id] = [0, 0, ts]
                counts[0] += past_acknowledge
                if ts < resolve_before:
                    counts[1] += 1
                if ts < counts[2]:
                    counts[2] = ts
            for mention_id in expired:
                del unresolved[mention_id]
                self._changes[mention_id] = None
            result.expired += len(expired)
        self._expired += result.expired
        return result

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
        self.open.pop(mention_id, None)
        self.acknowledged.pop(mention_id, None)
        self.waiting.pop(mention_id, None)
        if value is None:
            return
        if len(value) > 3 and value[0] == WAITING:
            account_id, reply_ts, platform, resolve_ts = (*value[1:], None)[:4]  # a reply alone: 4 elements
            self.waiting[mention_id] = (
                self._accounts.setdefault(account_id, account_id),
                reply_ts,
                platform,
                resolve_ts,
            )
        else:
            # [account_id, ts]: an open mention as the topic held it before replies waited there
            account_id, ts = value[-2:]
            kept = self.acknowledged if len(value) == 3 and value[0] == ACKNOWLEDGED else self.open
            kept[mention_id] = (self._accounts.setdefault(account_id, account_id), ts)
