"""Static group membership (KIP-345) for the engine's consumer, and how a static member leaves.

A worker joins under a stable instance id, so that when it is restarted (a crash, an OOM kill) it
takes its partitions back at once, instead of waiting until its dead predecessor's session times out.
A static member does not leave the group when it closes, though: on a graceful stop (a rolling deploy,
a scale-down) its partitions would wait out the session timeout. So after its consumer has stopped, a
worker removes its member by instance id with LeaveGroup v3 (as Kafka's RemoveMembersFromConsumerGroup
does); aiokafka knows only LeaveGroup v0-v1, which cannot name one.
"""

from __future__ import annotations

import logging
import re

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Int16, Int32, Schema, String

from .aiokafka_internals import send_to_node

log = logging.getLogger(__name__)

_ILLEGAL = re.compile(r"[^a-zA-Z0-9._-]")  # what Kafka accepts in a group instance id


def instance_id(name: str) -> str:
    return _ILLEGAL.sub("_", name)[:249]


class LeaveGroupResponse_v3(Response):
    API_KEY = 13
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        (
            "members",
            Array(("member_id", String("utf-8")), ("group_instance_id", String("utf-8")), ("error_code", Int16)),
        ),
    )


class LeaveGroupRequest_v3(RequestStruct):
    API_KEY = 13
    API_VERSION = 3
    RESPONSE_TYPE = LeaveGroupResponse_v3
    SCHEMA = Schema(
        ("group_id", String("utf-8")),
        ("members", Array(("member_id", String("utf-8")), ("group_instance_id", String("utf-8")))),
    )


class StaticLeaveGroupRequest(Request[LeaveGroupRequest_v3]):
    API_KEY = 13

    def __init__(self, group_id: str, group_instance_id: str):
        self._args = (group_id, [("", group_instance_id)])  # member id unknown: by instance id

    def build(self, request_struct_class: type[LeaveGroupRequest_v3]) -> LeaveGroupRequest_v3:
        return request_struct_class(*self._args)


async def leave_group(admin: AIOKafkaAdminClient, group_id: str, group_instance_id: str) -> None:
    """Best effort, as the consumer's own leave: its partitions move to the others at once."""
    try:
        coordinator = await admin.find_coordinator(group_id)
        request = StaticLeaveGroupRequest(group_id, group_instance_id)
        response = await send_to_node(admin, coordinator, request)
        codes = [response.error_code] + [member[2] for member in response.members]
        if any(codes):
            raise for_code(next(code for code in codes if code))()
    except Exception as exc:
        log.warning(
            "leaving the group as %s failed (its partitions move after the session timeout): %r", group_instance_id, exc
        )
