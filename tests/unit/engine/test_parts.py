"""streams.engine.parts: what the engine's parts share. The clients start absent (the engine makes
them when it starts) and the producer factory is kept for a recovery to replace a failed producer;
the owned partitions start empty, with two distinct locks."""

from __future__ import annotations

import asyncio

from streams.engine.parts import KafkaClients, OwnedPartitions
from tests.fixtures.kafka_fakes import FakeAdmin, FakeProducer


def test_kafka_clients_keep_the_admin_and_the_producer_factory_and_start_without_clients():
    admin = FakeAdmin()
    made = []

    def new_producer():
        made.append(FakeProducer())
        return made[-1]

    clients = KafkaClients(admin, new_producer)
    assert clients.admin is admin
    assert clients.consumer is None and clients.producer is None
    assert made == []  # the factory is not called up front
    assert clients.new_producer() is made[0]
    assert clients.new_producer() is made[1] and made[0] is not made[1]


def test_owned_partitions_start_empty_with_two_distinct_asyncio_locks():
    owned = OwnedPartitions()
    assert owned.states == {}
    assert isinstance(owned.state_lock, asyncio.Lock) and isinstance(owned.txn_lock, asyncio.Lock)
    assert owned.state_lock is not owned.txn_lock


def test_the_two_locks_are_independent():
    """A commit holds txn_lock while the loop folds under state_lock: one must not block the other."""
    owned = OwnedPartitions()

    async def go():
        async with owned.txn_lock:
            assert not owned.state_lock.locked()
            async with owned.state_lock:
                return owned.txn_lock.locked(), owned.state_lock.locked()

    assert asyncio.run(go()) == (True, True)
    assert not owned.txn_lock.locked() and not owned.state_lock.locked()


def test_each_owned_partitions_has_its_own_states():
    a, b = OwnedPartitions(), OwnedPartitions()
    a.states[0] = object()
    assert b.states == {}
    assert a.state_lock is not b.state_lock and a.txn_lock is not b.txn_lock
