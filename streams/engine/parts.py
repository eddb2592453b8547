"""What the engine's parts share, passed to each of them: the Kafka clients, and the owned partitions'
state with its locks. The engine (``loop``) makes them; no part holds the engine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from ..state import PartitionState


class KafkaClients:
    """The engine's consumer, its transactional producer (replaced after a failed transaction, by
    ``new_producer``) and its admin client (journal deletion, leaving the group)."""

    def __init__(self, admin: AIOKafkaAdminClient, new_producer: Callable[[], AIOKafkaProducer]):
        self.admin = admin
        self.new_producer = new_producer
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None


class OwnedPartitions:
    """The state of each input partition this worker owns and has restored, and its locks."""

    def __init__(self) -> None:
        self.states: dict[int, PartitionState] = {}
        self.state_lock = asyncio.Lock()  # the state: folding input, collecting a commit, restoring
        self.txn_lock = asyncio.Lock()  # one transaction at a time; always taken before state_lock
