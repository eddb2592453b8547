"""Which worker owns which partition, known to every worker: the HTTP API routes a query for a key
to the owner of its partition (``GET /accounts/{id}/metrics`` on any worker)."""

from __future__ import annotations

import orjson
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata


class RoutingAssignor(RoundRobinPartitionAssignor):
    """Round-robin assignment that also tells every member which worker URL owns which partition."""

    name = "engagement-routing"

    def __init__(self, url: str):
        self.url = url
        self.owners: dict[int, str] = {}

    def metadata(self, topics):
        return ConsumerProtocolMemberMetadata(self.version, list(topics), self.url.encode())

    def assign(self, cluster, members):
        assignments = RoundRobinPartitionAssignor.assign(cluster, members)
        owners: dict[str, list[int]] = {}
        for member_id, assignment in assignments.items():
            url = members[member_id].user_data.decode()
            for _topic, partitions in assignment.assignment:
                owners.setdefault(url, []).extend(partitions)
        routing = orjson.dumps(owners)
        return {
            member_id: ConsumerProtocolMemberAssignment(a.version, a.assignment, routing)
            for member_id, a in assignments.items()
        }

    def on_assignment(self, assignment):
        owners = orjson.loads(assignment.user_data or b"{}")
        self.owners = {partition: url for url, partitions in owners.items() for partition in partitions}

    def peer_urls(self) -> set[str]:
        return set(self.owners.values()) - {self.url}
