"""The gauges a commit updates from the state it has just committed: its size after every commit,
the accounts' and posts' figures after a close, and the listening SLAs of the open mentions."""

from __future__ import annotations

import asyncio
import logging

from ..kafka.accounts import AccountBook
from ..metrics import Metrics
from ..metrics.early import EarlyWarningGauges
from ..model.early import EarlyWarning

log = logging.getLogger(__name__)


def early_warning_gauges(settings, config, metrics: Metrics) -> EarlyWarningGauges:
    """Beside the ER per post (its registry, cap and benchmarks); without a record age to check
    before maturity, the early warning is off, and the log says so once."""
    early = EarlyWarning.of(settings, config)
    if not early.enabled:
        log.warning(
            "no early warning (PostOffTrack): no record age of ENGAGEMENT_POST_LIFETIME_AGES_SECONDS lies from "
            "ENGAGEMENT_EARLY_WARNING_FIRST_CHECK_SECONDS (%g s) to the maturity",
            settings.early_warning_first_check_seconds,
        )
    rates = metrics.post_rates
    return EarlyWarningGauges(metrics.per_account, rates.cap, rates.benchmarks, early, config.post_ages_ms)


class StateGauges:
    def __init__(self, metrics: Metrics, accounts: AccountBook, early: EarlyWarningGauges):
        self.metrics, self.accounts, self.early = metrics, accounts, early

    def after_commit(self, states: list) -> None:
        metrics = self.metrics
        metrics.open_windows.set(sum(st.open_window_count() for st in states))
        metrics.dedup_ids.set(sum(len(st.dedup) for st in states))
        metrics.dedup_bytes.set(sum(st.dedup.memory_bytes() for st in states))

    async def after_close(self, rolling_records: list, tumbling_records: list, mark: int, states: list) -> None:
        """After the transaction: folds may have run since the collect, but they touch neither the
        samples nor the published counts read here; only a commit does, and this one holds the
        transaction lock. Each step gives the loop a turn: at a week's state they take seconds
        together, longer than a session without heartbeats lasts."""
        metrics = self.metrics
        metrics.accounts.update(rolling_records, mark, self.accounts.industry_of)
        metrics.account_counters.add(tumbling_records, mark)
        metrics.closed_through.set(mark / 1000)
        await asyncio.sleep(0)
        self._post_gauges(states)
        await asyncio.sleep(0)
        self.early.update(states, mark, self.accounts.followers_of, self.accounts.industry_of)
        metrics.per_account_changed()

    def _post_gauges(self, states: list) -> None:
        """ER per post and the post state's size: at each close, when the samples may have changed."""
        metrics = self.metrics
        samples: dict = {}
        published: dict = {}
        for state in states:
            samples.update(state.lifetimes.samples)
            published.update(state.lifetimes.published)
        metrics.post_rates.update(samples, published, self.accounts.industry_of)
        metrics.tracked_posts.set(sum(st.tracked_posts() for st in states))
        metrics.post_state_bytes.set(sum(st.lifetimes.memory_bytes() for st in states))

    def scan_mentions(self, states: list, now: int) -> None:
        """The SLA gauges; mentions past the retention are dropped (in the next transaction)."""
        listening = self.metrics.listening
        overdue: dict = {}
        for state in states:
            scan = state.mentions.scan(now)
            overdue.update(scan.overdue)
        listening.set_overdue(overdue)
        listening.open.set(sum(st.mentions.open_count + st.mentions.acknowledged_count for st in states))
        listening.acknowledged.set(sum(st.mentions.acknowledged_count for st in states))
        listening.waiting.set(sum(len(st.mentions.waiting) for st in states))
