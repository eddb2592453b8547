"""What a mention, a reply or a resolve does as it is folded in: the open mentions change
(``streams.state.mentions``), and the account's window aggregate counts the response times (replies
only) and the resolved mentions, answered or not (DOMAIN.md, listening and response)."""

from __future__ import annotations

from ..model.aggregates import WindowAggregate
from .mentions import OpenMentions


class ListeningFold:
    def __init__(self, mentions: OpenMentions, acknowledge_ms: int):
        self.mentions, self.acknowledge_ms = mentions, acknowledge_ms
        self.responses: dict[str, list[int]] = {}  # platform -> response ms, for the histogram

    def mention(self, agg: WindowAggregate, event_id: str, account_id: str, ts: int) -> None:
        waited = self.mentions.mention(event_id, account_id, ts)
        if waited is None:
            return
        # Its reply or resolve came first: they count in the mention's window.
        if waited.reply_ts is not None:
            self._responded(agg, waited.platform, waited.reply_ts - ts)  # type: ignore[arg-type]
        if waited.resolved:
            agg.add_resolved(answered=waited.reply_ts is not None)

    def reply(self, agg: WindowAggregate, mention_id: str, account_id: str, ts: int, platform: str) -> None:
        mention_ts = self.mentions.reply(mention_id, account_id, ts, platform)
        if mention_ts is not None:
            self._responded(agg, platform, ts - mention_ts)
            if self.mentions.reply_resolves:
                agg.add_resolved(answered=True)

    def resolve(self, agg: WindowAggregate, mention_id: str, account_id: str, ts: int) -> None:
        answered = self.mentions.resolve(mention_id, account_id, ts)
        if answered is not None:
            agg.add_resolved(answered)

    def _responded(self, agg: WindowAggregate, platform: str, response_ms: int) -> None:
        response_ms = max(0, response_ms)  # the two ts come from different clocks
        agg.add_response(response_ms, response_ms <= self.acknowledge_ms)
        self.responses.setdefault(platform, []).append(response_ms)

    def take_responses(self) -> dict[str, list[int]]:
        """Per platform, the response times (ms) of the mentions answered since the last call."""
        responses, self.responses = self.responses, {}
        return responses
