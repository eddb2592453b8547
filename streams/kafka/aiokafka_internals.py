"""Every use of aiokafka's private internals by the service, each with why no public API does.

On an aiokafka upgrade, run ``tests/unit/kafka/test_aiokafka_internals.py``: each of its tests checks one of
these internals and names it when it fails. Nothing else in ``streams/`` (but its sibling
``streams.kafka.aiokafka_fetch``) touches a private name of aiokafka.

- the consumer's group coordinator: its generation, member id and instance id (``group_membership``)
  and its rejoin request (``request_rejoin``), for zombie fencing (``streams.kafka.fencing``);
- the consumer's client: the whole cluster metadata (``cluster_metadata``), and its metadata of
  some topics awaited (``know_topics``);
- the admin client's request to one broker (``send_to_node``): LeaveGroup by instance id;
- the transactional producer's sender and transaction manager (``MemberFencedSender``,
  ``abort_transaction_with``): offset commits that name the group member, and their refusal;
- on the fetch path, in ``streams.kafka.aiokafka_fetch`` (it mirrors three of aiokafka's methods): the
  fetcher's ``PartitionRecords`` (``guard_fetched_batches``), record batches decoded ahead
  (``streams.kafka.undecodable``) and taken as columns; the consumer's fetcher, subscription and
  fetch results (``getmany_raw``): a fetch without a ConsumerRecord per message.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import CoordinationType
from aiokafka.errors import GroupAuthorizationFailedError
from aiokafka.producer.sender import Sender, TxnOffsetCommitHandler
from aiokafka.producer.transaction_manager import TransactionState

from .fencing import STALE_MEMBER_CODES, GroupFenced, Membership, MemberTxnOffsetCommitRequest


# -- the consumer --------------------------------------------------------------------------------
def group_membership(consumer: AIOKafkaConsumer) -> Membership:
    """The consumer's current generation and member id (-1 and "" once it has lost them): the
    coordinator keeps them, and no public call gives them."""
    coordinator = consumer._coordinator
    return Membership(coordinator.generation, coordinator.member_id, coordinator._group_instance_id)


def request_rejoin(consumer: AIOKafkaConsumer) -> None:
    """Rejoin the group at once (after a fenced commit); aiokafka has no public call for it."""
    consumer._coordinator.request_rejoin()


async def cluster_metadata(consumer: AIOKafkaConsumer):
    """The cluster's metadata with every topic's partitions: the public topics() drops them."""
    return await consumer._client.fetch_all_metadata()


async def know_topics(consumer: AIOKafkaConsumer, topics) -> None:
    """Wait until the consumer's client has these topics' metadata. An offset lookup on a client
    without it fails retriably for one topic after the other, each retry after retry_backoff_ms: a
    restore's readers took 0.3 s each before their first lookup (3 topics); no public call waits."""
    for topic in topics:
        await consumer._client._wait_on_metadata(topic)


# -- the admin client ----------------------------------------------------------------------------
async def send_to_node(admin: AIOKafkaAdminClient, node_id: int, request):
    """A request to one broker: the admin client has no LeaveGroup by instance id (KIP-345)."""
    return await admin._send_request_to_node(node_id, request)


# -- the transactional producer ------------------------------------------------------------------
def abort_transaction_with(txn, exc: Exception) -> None:
    """As aiokafka's ``error_transaction``, but the transaction keeps its partitions, so that the
    abort that follows is sent to the coordinator: forgetting them, the abort would end only here
    and leave the transaction open on the broker (blocking read_committed readers of the journal and
    the outputs) until its timeout."""
    txn._transition_to(TransactionState.ABORTABLE_ERROR)
    for _, _, fut in txn._pending_txn_offsets:
        fut.set_exception(exc)
    txn._pending_txn_offsets.clear()
    txn._transaction_waiter.set_exception(exc)
    txn._transaction_waiter.exception()  # seen: the abort that follows replaces this waiter unread


class MemberTxnOffsetCommitHandler(TxnOffsetCommitHandler):
    """aiokafka's handler of a transaction's offset commit, sending v3 with the member, and turning
    the coordinator's refusal of a stale member into ``GroupFenced``."""

    def __init__(self, sender, offsets, group_id, member: Membership):
        super().__init__(sender, offsets, group_id)
        self._member = member

    def create_request(self):
        txn = self._sender._txn_manager
        return MemberTxnOffsetCommitRequest(
            txn.transactional_id, self._group_id, txn.producer_id, txn.producer_epoch, self._member, self._offsets
        )

    def handle_response(self, resp):
        for topic, partitions, _ in resp.topics:
            for partition, error_code, _ in partitions:
                if error_code in STALE_MEMBER_CODES:
                    abort_transaction_with(
                        self._sender._txn_manager,
                        GroupFenced(
                            f"offsets of {topic}/{partition} refused: {STALE_MEMBER_CODES[error_code]}",
                            STALE_MEMBER_CODES[error_code],
                        ),
                    )
                    return None
        # Every other outcome as aiokafka handles it, given the v0 response's shape.
        return super().handle_response(
            SimpleNamespace(
                errors=[
                    (topic, [(partition, code) for partition, code, _ in partitions])
                    for topic, partitions, _ in resp.topics
                ]
            )
        )


class MemberFencedSender(Sender):
    """The producer's sender, whose transaction offset commits name the group member."""

    membership: Callable[[], Membership]

    async def _do_txn_offset_commit(self, offsets, group_id):
        if not offsets:
            return
        member = self.membership()
        if member.generation_id < 0:  # the coordinator would not check a commit without a generation
            abort_transaction_with(self._txn_manager, GroupFenced(f"no generation of group {group_id}: not a member"))
            return
        try:
            node_id = await self._find_coordinator(CoordinationType.GROUP, group_id)
        except GroupAuthorizationFailedError as exc:
            self._txn_manager.error_transaction(exc)
            return
        await MemberTxnOffsetCommitHandler(self, offsets, group_id, member).do(node_id)


def fence_offset_commits(producer: AIOKafkaProducer, membership: Callable[[], Membership]) -> AIOKafkaProducer:
    """Make a (not yet started) transactional producer send its offsets with ``membership()``: its
    sender is built in its constructor, and no public hook reaches the offset commit."""
    producer._sender.__class__ = MemberFencedSender
    producer._sender.membership = membership
    return producer
