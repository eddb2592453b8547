"""What a partition's commit hands the engine: the journal entry and the records to produce."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Commit:
    journal: dict | None  # the state changes to journal; None when nothing changed
    post_records: list[dict]
    account_records: list[dict]
    lifetime_records: list[dict]  # posts that reached a record age
    mention_changes: dict  # mention id -> its record in the mentions topic (None: closed)
    snapshot_records: list  # (key, value or None) for the snapshot topic
    replies_unmatched: int = 0  # waiting replies dropped: their mention can no longer be counted
    mentions_expired: int = 0  # of the mention changes: open mentions past the retention
