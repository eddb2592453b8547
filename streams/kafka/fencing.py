"""Zombie fencing (KIP-447): the transaction's input offsets carry the consumer's group membership.

A worker paused past its session timeout (a long GC or I/O stall, a frozen VM) resumes believing it
still owns partitions that another worker has taken over and restored. Its next transaction would
publish final records, journal entries and offsets for them a second time. Each worker has its own
transactional id, so the producer epoch fences nothing between workers: the group must. When the
offset commit names the member and its generation (TxnOffsetCommit v3), the group coordinator
refuses it from a member that is no longer current (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
FENCED_INSTANCE_ID), and the transaction that holds it is aborted: nothing of it becomes visible.

aiokafka sends TxnOffsetCommit v0, which the coordinator accepts from anyone, and stops its sender
on any unexpected error code. This module holds the protocol: the v3 request and response, the
membership they carry and the refusals. ``streams.kafka.aiokafka_internals.fence_offset_commits``
makes a transactional producer send v3 with the membership a callable gives, and turn those refusals
into ``GroupFenced``, an abortable error (the caller aborts, drops the partitions, and waits for the
group to give it new ones).
"""

from __future__ import annotations

from typing import NamedTuple

from aiokafka.errors import KafkaError
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import CompactArray, CompactString, Int16, Int32, Int64, Schema, TaggedFields

# The coordinator's answers to a member that is not current (aiokafka knows no FENCED_INSTANCE_ID).
STALE_MEMBER_CODES = {
    22: "ILLEGAL_GENERATION",
    25: "UNKNOWN_MEMBER_ID",
    27: "REBALANCE_IN_PROGRESS",
    82: "FENCED_INSTANCE_ID",
}


class GroupFenced(KafkaError):
    """The group coordinator refused this worker's offsets: its partitions belong to others now, or
    are being given out again (``reason``: the coordinator's error name, or NOT_A_MEMBER)."""

    def __init__(self, message: str, reason: str = "NOT_A_MEMBER"):
        super().__init__(message)
        self.reason = reason


class Membership(NamedTuple):
    generation_id: int
    member_id: str
    group_instance_id: str | None


class TxnOffsetCommitResponse_v3(Response):
    API_KEY = 28
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "topics",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("partitions", CompactArray(("partition_index", Int32), ("error_code", Int16), ("tags", TaggedFields))),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class TxnOffsetCommitRequest_v3(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 28
    API_VERSION = 3
    RESPONSE_TYPE = TxnOffsetCommitResponse_v3
    SCHEMA = Schema(
        ("transactional_id", CompactString("utf-8")),
        ("group_id", CompactString("utf-8")),
        ("producer_id", Int64),
        ("producer_epoch", Int16),
        ("generation_id", Int32),
        ("member_id", CompactString("utf-8")),
        ("group_instance_id", CompactString("utf-8")),
        (
            "topics",
            CompactArray(
                ("name", CompactString("utf-8")),
                (
                    "partitions",
                    CompactArray(
                        ("partition_index", Int32),
                        ("committed_offset", Int64),
                        ("committed_leader_epoch", Int32),
                        ("committed_metadata", CompactString("utf-8")),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class MemberTxnOffsetCommitRequest(Request[TxnOffsetCommitRequest_v3]):
    API_KEY = 28

    def __init__(
        self,
        transactional_id: str,
        group_id: str,
        producer_id: int,
        producer_epoch: int,
        member: Membership,
        offsets: dict,
    ):
        topics: dict[str, list] = {}
        for tp, offset in sorted(offsets.items()):
            topics.setdefault(tp.topic, []).append((tp.partition, offset.offset, -1, offset.metadata, {}))
        self._args: tuple = (
            transactional_id,
            group_id,
            producer_id,
            producer_epoch,
            *member,
            [(topic, partitions, {}) for topic, partitions in topics.items()],
            {},
        )

    def build(self, request_struct_class: type[TxnOffsetCommitRequest_v3]) -> TxnOffsetCommitRequest_v3:
        return request_struct_class(*self._args)
