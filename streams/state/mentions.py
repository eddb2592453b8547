"""Open mentions: the brand was mentioned and has not replied yet (DOMAIN.md, listening SLA).

They outlive the windows by days, so they are kept in a compacted topic of their own rather than in
the journal: each change is a record keyed by the mention's event_id, None once answered or expired.
"""

from __future__ import annotations

# DOMAIN.md's listening SLA: acknowledge a mention within 12 h, resolve within 24 h.
MENTION_SLAS_MS = {"12h": 12 * 3600 * 1000, "24h": 24 * 3600 * 1000}
MENTION_RETENTION_MS = 7 * 24 * 3600 * 1000  # an open mention older than this is forgotten

Mention = tuple[str, int]  # (account_id, ts)


class OpenMentions:
    def __init__(self):
        self.open: dict[str, Mention] = {}  # event_id -> (account_id, ts)
        self._changes: dict[str, Mention | None] = {}

    def mention(self, event_id: str, account_id: str, ts: int) -> None:
        self.open[event_id] = self._changes[event_id] = (account_id, ts)

    def reply(self, mention_id: str) -> None:
        if self.open.pop(mention_id, None) is not None:
            self._changes[mention_id] = None

    def expire(self, now_ms: int) -> None:
        cutoff = now_ms - MENTION_RETENTION_MS
        for event_id in [i for i, (_, ts) in self.open.items() if ts < cutoff]:
            del self.open[event_id]
            self._changes[event_id] = None

    def take_changes(self) -> dict[str, Mention | None]:
        """The changes since the last call, for the compacted topic (None: closed)."""
        changes, self._changes = self._changes, {}
        return changes

    def restore(self, event_id: str, mention: Mention | None) -> None:
        """Apply one record of the compacted topic (a restore reads them in order)."""
        if mention is None:
            self.open.pop(event_id, None)
        else:
            self.open[event_id] = mention

    def unanswered(self, now_ms: int) -> dict[tuple[str, str], int]:
        """(account_id, SLA label) -> open mentions older than that SLA."""
        counts: dict[tuple[str, str], int] = {}
        for account_id, ts in self.open.values():
            for label, sla in MENTION_SLAS_MS.items():
                if now_ms - ts > sla:
                    counts[(account_id, label)] = counts.get((account_id, label), 0) + 1
        return counts
