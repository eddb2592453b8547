"""The hot path, per slice of a fetched batch: decode, validate, forward, and fold into the state.

Events of an account live in its partition (the interactions topic is keyed by account_id, murmur2 as
the Java client places keys): an event found in another partition (its producer's partitioner is
another, as librdkafka's crc32, or it sent no key) is folded into its own partition's state at once
when this worker owns that partition (the transaction that commits the input offset commits the
state too), else forwarded, keyed right, to its own in the next transaction, and counted when it is
consumed there. Rejected input and late events go to the DLQ with their reason. A slice is
decoded in one msgspec call when it can be (``decode_slice``), and the dedup memory answers for it at
once (numpy), so a slice is decoded and forwarded first, then folded in one loop (``add_many``).
"""

from __future__ import annotations

from operator import attrgetter

import msgspec
import orjson
from aiokafka import TopicPartition

from .. import json_bytes
from ..kafka.fetched import Fetched
from ..kafka.partitioner import partition_for
from ..kafka.undecodable import UndecodableBatch
from ..metrics import BatchTally
from ..settings import Settings
from ..state import PartitionState, WindowConfig
from ..state.dedup import fingerprints
from ..validation import Rejection, decode_message, decode_slice, dlq_record
from ..validation.framing import framing_problem, unframe
from ..validation.structs import InteractionEvent
from .outbox import Outbox

_EVENT_ID = attrgetter("event_id")
Routed = tuple[list[InteractionEvent], list[int]]  # events of one partition, and their messages' indices


class BatchFolder:
    def __init__(self, settings: Settings, config: WindowConfig, outbox: Outbox):
        self.settings = settings
        self.config = config
        self.outbox = outbox
        self.limits = {
            "max_message_bytes": settings.max_message_bytes,
            "max_batch_events": settings.max_batch_events,
            "max_future_ms": config.grace_ms,
        }
        self._partition_of: dict[str, int] = {}  # account_id -> its partition (murmur2 is not free)

    def fold(self, tp: TopicPartition, messages: Fetched, states: dict[int, PartitionState], now: int) -> None:
        """Fold a slice of partition ``tp``'s messages into ``states`` (the worker's, by partition;
        ``tp``'s among them): each event into its account's partition."""
        arrival = messages.timestamps[0]
        tally = BatchTally(now)
        originals = Originals(messages)
        homes = self._decode_and_route(tp, messages, now, tally, originals, states)
        latest = max(messages.timestamps)
        for home, (events, owners) in homes.items():
            state = states[home]
            if not state.closed_through:
                state.start_at(arrival)
            if state.first_input_ms is None:
                state.input_from(arrival)
            fps = fingerprints(map(_EVENT_ID, events))
            counted, duplicates, late = state.add_many(events, now, latest, fps, state.dedup.seen_before(fps))
            tally.duplicate += duplicates
            tally.add_counted(counted)
            if late:
                self._reject_late(tp, messages, events, owners, late, state, originals, tally)
            for platform, response_ms in state.take_responses().items():
                tally.response_ms.setdefault(platform, []).extend(response_ms)
        self.outbox.add_tally(tally)  # counted once the transaction holding this input commits

    def _reject_late(
        self,
        tp: TopicPartition,
        messages: Fetched,
        events: list[InteractionEvent],
        owners: list[int],
        late: list[InteractionEvent],
        state: PartitionState,
        originals: Originals,
        tally: BatchTally,
    ) -> None:
        owner_of = {id(event): i for event, i in zip(events, owners)}
        for event in late:
            i = owner_of[id(event)]
            self._reject(
                tp,
                messages,
                i,
                Rejection(
                    "late",
                    f"window of ts {event.ts} closed at {state.closed_through} + grace",
                    originals.of(i, event),
                ),
                tally,
            )

    def _decode_and_route(
        self,
        tp: TopicPartition,
        messages: Fetched,
        now: int,
        tally: BatchTally,
        originals: Originals,
        states: dict[int, PartitionState],
    ) -> dict[int, Routed]:
        """Decode; reject what is invalid, forward what belongs to a partition another worker owns;
        per partition of this worker, (its events, their messages) of the rest. The whole slice is
        decoded at once when it can be, else message by message."""
        values, tally.framed = unframe(messages.values)
        if tally.framed:
            originals.payloads = {i: v for i, (v, m) in enumerate(zip(values, messages.values)) if v is not m}
        decoded = decode_slice(values, now, **self.limits)
        if decoded is None:
            decoded = [self._decode_one(tp, messages, i, value, now, tally) for i, value in enumerate(values)]
        partition, partitions = tp.partition, self.settings.topic_partitions
        partition_of = self._partition_of
        events: list[InteractionEvent] = []
        owners: list[int] = []
        homes: dict[int, Routed] = {partition: (events, owners)}
        for i, item in enumerate(decoded):
            for event in item if type(item) is list else (item,):
                home = partition_of.get(event.account_id)
                if home is None:
                    home = partition_of[event.account_id] = partition_for(event.account_id, partitions)
                if home == partition:
                    events.append(event)
                    owners.append(i)
                elif home in states:
                    routed = homes.get(home)
                    if routed is None:
                        routed = homes[home] = ([], [])
                    routed[0].append(event)
                    routed[1].append(i)
                else:
                    self._forward(event, originals.of(i, event), home, tally)
        tally.consumed += sum(len(routed) for routed, _ in homes.values())
        return homes

    def _decode_one(
        self, tp: TopicPartition, messages: Fetched, i: int, value: bytes | None, now: int, tally: BatchTally
    ) -> list:
        """The i-th message's events; its rejections to the DLQ. ``value``: its JSON payload (unframed)."""
        if type(value) is UndecodableBatch:  # a whole batch counts as one message rejected whole
            tally.consumed += 1
            tally.undecodable[value.codec] += value.offsets
            self._reject(
                tp, messages, i, Rejection("undecodable_batch", value.describe(), b""), tally, value.first_offset
            )
            return []
        events, rejections = decode_message(value, now, **self.limits)
        tally.consumed += len(rejections)
        for rejection in rejections:
            original = messages.values[i]
            if rejection.reason == "malformed_json" and (problem := framing_problem(original or b"")):
                rejection = Rejection(rejection.reason, f"{problem} ({rejection.error})", original)
            self._reject(tp, messages, i, rejection, tally)
        return events

    def _reject(
        self,
        tp: TopicPartition,
        messages: Fetched,
        i: int,
        rejection: Rejection,
        tally: BatchTally,
        offset: int | None = None,
    ) -> None:
        """The i-th message's rejection to the DLQ (``offset``: another than the message's)."""
        tally.rejected[rejection.reason] += 1
        record = dlq_record(
            rejection,
            tp.topic,
            tp.partition,
            messages.offsets[i] if offset is None else offset,
            messages.timestamps[i],
            self.settings.max_message_bytes,
        )
        self.outbox.add(self.settings.topic_dlq, messages.keys[i], record)

    def _forward(self, event: InteractionEvent, original: bytes, partition: int, tally: BatchTally) -> None:
        tally.forwarded += 1  # consumed when it is read again in its own partition
        self.outbox.add(self.settings.topic_interactions, event.account_id.encode(), original, partition)


class Originals:
    """The bytes of an event as it came in, for a record that carries it on (a forward, a late event's
    DLQ record): the message's JSON (without a Schema Registry frame), or its item of a batch. Rare
    paths, so a batch is decoded again, once per message (its events are handled in order)."""

    def __init__(self, messages: Fetched) -> None:
        self._messages = messages
        self._message = -1
        self._value = b""
        self._items: dict = {}
        self.payloads: dict[int, bytes] = {}  # message index -> its payload, for the framed messages

    def of(self, i: int, event: InteractionEvent) -> bytes:
        """What the i-th message carried of ``event``."""
        if i != self._message:
            self._message = i
            self._value = self.payloads.get(i, self._messages.values[i])
            data = orjson.loads(self._value)
            self._items = (
                {}
                if not isinstance(data, list)
                else {
                    item["event_id"]: item for item in reversed(data) if isinstance(item, dict) and "event_id" in item
                }
            )
        if not self._items:  # a message of one event
            return self._value
        item = self._items.get(event.event_id)
        return json_bytes.dumps(item) if item is not None else msgspec.json.encode(event)
