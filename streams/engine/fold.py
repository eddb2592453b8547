"""The hot path, per slice of a fetched batch: decode, validate, route, and fold into the state.

Events of an account live in its partition (the interactions topic is keyed by account_id): an event
found in another partition is forwarded, keyed right, to its own in the next transaction, and counted
when it is consumed there. Rejected input and late events go to the DLQ with their reason. The dedup
memory answers for a whole slice at once (numpy), so a slice is decoded and routed first.
"""

from __future__ import annotations

import orjson
from aiokafka import TopicPartition

from ..kafka.partitioner import partition_for
from ..metrics import BatchTally, Metrics
from ..settings import Settings
from ..state import COUNTED, DUPLICATE, PartitionState, WindowConfig
from ..state.dedup import fingerprint
from ..validation import Rejection, decode_message, dlq_record
from .outbox import Outbox


class BatchFolder:
    def __init__(self, settings: Settings, config: WindowConfig, outbox: Outbox, metrics: Metrics):
        self.settings = settings
        self.config = config
        self.outbox = outbox
        self.metrics = metrics
        self._partition_of: dict[str, int] = {}  # account_id -> its partition (murmur2 is not free)

    def fold(self, tp: TopicPartition, messages: list, state: PartitionState, now: int) -> None:
        if not state.closed_through:
            state.start_at(messages[0].timestamp)
        if state.first_input_ms is None:
            state.input_from(messages[0].timestamp)
        tally = BatchTally()
        mine = self._route(tp, messages, now, tally)
        fingerprints = [fingerprint(event["event_id"]) for _, event in mine]
        known = state.dedup.seen_before(fingerprints)
        for (message, event), fp, seen in zip(mine, fingerprints, known):
            outcome = state.add(event, now, message.timestamp, fp, seen)
            if outcome is COUNTED:
                tally.counted += 1
                tally.interactions[(event["platform"], event["type"])] += 1
                tally.lags_ms.append(now - event["ts_ms"])
                if event["type"] == "dwell":
                    tally.dwell_ms.setdefault(event["platform"], []).append(event["dwell_ms"])
            elif outcome is DUPLICATE:
                tally.duplicate += 1
            else:
                self._reject(tp, message, Rejection(
                    "late", f"window of ts {event['ts_ms']} closed at "
                            f"{state.closed_through} + grace", event_bytes(event)), tally)
        tally.response_ms = state.take_responses()
        self.metrics.add_batch(tally)

    def _route(self, tp: TopicPartition, messages: list, now: int, tally: BatchTally) -> list[tuple]:
        """Decode; reject what is invalid, forward what belongs elsewhere; (message, event) of the rest."""
        s = self.settings
        partitions = s.topic_partitions
        mine = []
        for message in messages:
            events, rejections = decode_message(
                message.value, now, max_message_bytes=s.max_message_bytes,
                max_batch_events=s.max_batch_events, max_future_ms=self.config.grace_ms)
            tally.consumed += len(events) + len(rejections)
            for rejection in rejections:
                self._reject(tp, message, rejection, tally)
            for event in events:
                account_id = event["account_id"]
                home = self._partition_of.get(account_id)
                if home is None:
                    home = self._partition_of[account_id] = partition_for(account_id, partitions)
                if home != tp.partition:
                    self._forward(event, home, tally)
                else:
                    mine.append((message, event))
        return mine

    def _reject(self, tp: TopicPartition, message, rejection: Rejection, tally: BatchTally) -> None:
        tally.rejected[rejection.reason] += 1
        record = dlq_record(rejection, tp.topic, tp.partition, message.offset, message.timestamp,
                            self.settings.max_message_bytes)
        self.outbox.add(self.settings.topic_dlq, message.key, record)

    def _forward(self, event: dict, partition: int, tally: BatchTally) -> None:
        tally.forwarded += 1
        tally.consumed -= 1  # counted when it is consumed again in its own partition
        self.outbox.add(self.settings.topic_interactions, event["account_id"].encode(), event_bytes(event),
                        partition)


def event_bytes(event: dict) -> bytes:
    """The event as it came in (without the ts_ms the validation added)."""
    return orjson.dumps({k: v for k, v in event.items() if k != "ts_ms"})
