"""Account reference data: every worker holds the whole compacted accounts topic (one record per
account), since any account's follower count is needed when a window closes."""

from __future__ import annotations

from ..settings import Settings
from ..validation import validate_account
from .reference import ReferenceBook


class AccountBook(ReferenceBook):
    name = "accounts"

    def __init__(self, settings: Settings, kafka_config: dict | None = None):
        super().__init__(settings, settings.topic_accounts, validate_account, "account_id", kafka_config)

    def followers_of(self, account_id: str) -> int | None:
        record = self.records.get(account_id)
        return None if record is None else record["followers"]

    def industry_of(self, account_id: str) -> str:
        record = self.records.get(account_id)
        return (record or {}).get("industry", "")
