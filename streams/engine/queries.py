"""Live reads for the HTTP query API: the open windows (what is not published as final yet) of the
partitions this worker owns, and which worker owns the others."""

from __future__ import annotations

from ..kafka.accounts import AccountBook
from ..kafka.partitioner import partition_for
from ..settings import Settings
from ..state import live
from .clock import now_ms
from .parts import OwnedPartitions
from .routing import RoutingAssignor


class LiveQueries:
    def __init__(self, settings: Settings, owned: OwnedPartitions, assignor: RoutingAssignor, accounts: AccountBook):
        self.settings, self.owned, self.assignor, self.accounts = settings, owned, assignor, accounts

    def owner_of_account(self, account_id: str) -> tuple[int, str | None]:
        partition = partition_for(account_id, self.settings.topic_partitions)
        return partition, self.assignor.owners.get(partition)

    def live_post(self, post_id: str) -> tuple[list[dict], dict | None]:
        """The post's open windows and its lifetime so far, from the partition holding either."""
        now = now_ms()
        followers_of = self.accounts.followers_of
        for state in self.owned.states.values():
            windows = live.live_post(state, post_id, now, followers_of)
            lifetime = live.post_lifetime(state, post_id, now, followers_of)
            if windows or lifetime is not None:
                return windows, lifetime
        return [], None

    def live_account(self, account_id: str, rolling: bool) -> list[dict] | None:
        """None when this worker does not own the account's partition."""
        state = self.owned.states.get(partition_for(account_id, self.settings.topic_partitions))
        if state is None:
            return None
        return live.live_account(state, account_id, rolling, now_ms(), self.accounts.followers_of)
