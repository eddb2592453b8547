"""Open mentions and the replies that close them (DOMAIN.md, listening and response).

A mention stays open until a reply points at it (``in_reply_to``); its response time is the reply's
ts minus the mention's. A reply read before its mention (out of order, across a restart) waits for it;
once the close mark has passed the reply's window, no mention it could answer can still be counted,
and it is dropped as unmatched. An open mention older than the retention is dropped as expired.

Both outlive the windows by days, so they are kept in a compacted topic of their own rather than in
the journal: each change is a record keyed by the mention's event_id, its value ``["m", account_id,
ts]`` (open), ``["r", account_id, reply_ts, platform]`` (a reply waiting), or None (closed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

OPEN, WAITING = "m", "r"


@dataclass
class MentionScan:
    """Per account with a mention past the acknowledge SLA: [past acknowledge, past resolve, oldest ts]."""

    overdue: dict[str, list] = field(default_factory=dict)
    expired: int = 0  # open mentions dropped by this scan (older than the retention)


class OpenMentions:
    def __init__(self, acknowledge_ms: int, resolve_ms: int, retention_ms: int):
        self.acknowledge_ms, self.resolve_ms, self.retention_ms = acknowledge_ms, resolve_ms, retention_ms
        self.open: dict[str, tuple[str, int]] = {}  # mention id -> (account_id, ts)
        self.waiting: dict[str, tuple[str, int, str]] = {}  # mention id -> (account_id, reply ts, platform)
        self._changes: dict[str, list | None] = {}
        self._expired = 0  # of the changes: mentions expired by a scan
        self._accounts: dict[str, str] = {}  # one string per account, however many mentions hold it

    def mention(self, event_id: str, account_id: str, ts: int) -> tuple[int, str] | None:
        """Open a mention; if its reply came first, close it at once: (reply ts, reply platform)."""
        reply = self.waiting.pop(event_id, None)
        if reply is not None:
            self._changes[event_id] = None
            return reply[1], reply[2]
        account_id = self._accounts.setdefault(account_id, account_id)
        self.open[event_id] = (account_id, ts)
        self._changes[event_id] = [OPEN, account_id, ts]
        return None

    def reply(self, mention_id: str, account_id: str, ts: int, platform: str) -> int | None:
        """Close the mention replied to: its ts. Unknown (not read yet): the reply waits for it."""
        mention = self.open.pop(mention_id, None)
        if mention is not None:
            self._changes[mention_id] = None
            return mention[1]
        if mention_id not in self.waiting:  # a second reply to a mention is no new response
            account_id = self._accounts.setdefault(account_id, account_id)
            self.waiting[mention_id] = (account_id, ts, platform)
            self._changes[mention_id] = [WAITING, account_id, ts, platform]
        return None

    def drop_unmatched(self, counted_from: int) -> int:
        """Drop the waiting replies with ts before ``counted_from`` (the start of the oldest window
        still open): a mention they could answer is older, so it would be late. How many."""
        gone = [mention_id for mention_id, (_, ts, _) in self.waiting.items() if ts < counted_from]
        for mention_id in gone:
            del self.waiting[mention_id]
            self._changes[mention_id] = None
        return len(gone)

    def scan(self, now_ms: int) -> MentionScan:
        """Expire what is past the retention, and count what is past the SLAs, in one pass."""
        expire_before = now_ms - self.retention_ms
        acknowledge_before, resolve_before = now_ms - self.acknowledge_ms, now_ms - self.resolve_ms
        result = MentionScan()
        overdue = result.overdue
        expired = []
        for mention_id, (account_id, ts) in self.open.items():
            if ts >= acknowledge_before:
                continue
            if ts < expire_before:
                expired.append(mention_id)
                continue
            counts = overdue.get(account_id)
            if counts is None:
                counts = overdue[account_id] = [0, 0, ts]
            counts[0] += 1
            if ts < resolve_before:
                counts[1] += 1
            if ts < counts[2]:
                counts[2] = ts
        for mention_id in expired:
            del self.open[mention_id]
            self._changes[mention_id] = None
        result.expired = len(expired)
        self._expired += len(expired)
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
        if value is None:
            self.open.pop(mention_id, None)
            self.waiting.pop(mention_id, None)
        elif value[0] == WAITING:
            _, account_id, ts, platform = value
            self.waiting[mention_id] = (self._accounts.setdefault(account_id, account_id), ts, platform)
        else:
            # [account_id, ts]: an open mention as the topic held it before replies waited there
            account_id, ts = value[-2:]
            self.open[mention_id] = (self._accounts.setdefault(account_id, account_id), ts)
