"""The routing assignor (streams.engine.routing), no broker: a member's metadata carries its worker
URL; the group leader's ``assign`` hands out partitions round-robin and gives every member the same
map of which URL owns which partitions; ``on_assignment`` turns that map into partition -> URL;
``peer_urls`` are the other workers' URLs.

The cluster and the members are stand-ins with what aiokafka's round-robin assignor reads
(``cluster.partitions_for_topic``, each member's ``subscription`` and ``user_data``); the metadata
and assignments go through the group protocol's wire encoding as the coordinator sends them. The
expected round-robin layout is worked out here: partitions in order, members by sorted id."""

from __future__ import annotations

import orjson
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata

from streams.engine.routing import RoutingAssignor
from streams.settings import Settings

TOPIC = Settings().topic_interactions
URLS = {"member-a": "http://worker-0:8000", "member-b": "http://worker-1:8000", "member-c": "http://worker-2:8000"}


class Cluster:
    """What assign reads of the cluster metadata: the partitions of each topic."""

    def __init__(self, partitions: dict[str, int]):
        self.partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        n = self.partitions.get(topic)
        return None if n is None else set(range(n))


def wire(struct):
    """A protocol struct as the other side reads it: encoded, then decoded."""
    return type(struct).decode(struct.encode())


def group(urls: dict[str, str], partitions: int = 8):
    """(the assignor of each member, the assignments the leader sends, decoded by each member)."""
    assignors = {member: RoutingAssignor(url) for member, url in urls.items()}
    members = {member: wire(a.metadata([TOPIC])) for member, a in assignors.items()}
    leader = assignors[sorted(urls)[0]]
    assignments = leader.assign(Cluster({TOPIC: partitions}), members)
    return assignors, {member: wire(a) for member, a in assignments.items()}


def test_metadata_subscribes_to_the_topics_and_carries_the_url():
    metadata = wire(RoutingAssignor("http://worker-0:8000").metadata([TOPIC]))
    assert isinstance(metadata, ConsumerProtocolMemberMetadata)
    assert (metadata.version, metadata.subscription, metadata.user_data) == (0, [TOPIC], b"http://worker-0:8000")


def test_assign_deals_partitions_round_robin_and_tells_every_member_every_owner():
    _, assignments = group(URLS, partitions=8)
    # Partitions 0..7 dealt to member-a, -b, -c in turn.
    layout = {
        "member-a": [0, 3, 6],
        "member-b": [1, 4, 7],
        "member-c": [2, 5],
    }
    assert {member: a.assignment for member, a in assignments.items()} == {
        member: [(TOPIC, partitions)] for member, partitions in layout.items()
    }
    owners = {URLS[member]: partitions for member, partitions in layout.items()}
    for a in assignments.values():
        assert a.version == 0
        assert orjson.loads(a.user_data) == owners


def test_a_member_without_partitions_gets_the_map_and_is_not_in_it():
    urls = {f"member-{i}": f"http://worker-{i}:8000" for i in range(3)}
    _, assignments = group(urls, partitions=2)
    owners = {"http://worker-0:8000": [0], "http://worker-1:8000": [1]}
    assert assignments["member-2"].assignment == []
    assert all(orjson.loads(a.user_data) == owners for a in assignments.values())


def test_on_assignment_maps_each_partition_to_its_owner():
    assignors, assignments = group(URLS, partitions=8)
    expected = {
        0: URLS["member-a"],
        1: URLS["member-b"],
        2: URLS["member-c"],
        3: URLS["member-a"],
        4: URLS["member-b"],
        5: URLS["member-c"],
        6: URLS["member-a"],
        7: URLS["member-b"],
    }
    for member, assignor in assignors.items():
        assignor.on_assignment(assignments[member])
        assert assignor.owners == expected


def test_peer_urls_are_the_other_owners():
    assignors, assignments = group(URLS, partitions=8)
    for member, assignor in assignors.items():
        assignor.on_assignment(assignments[member])
        assert assignor.peer_urls() == set(URLS.values()) - {URLS[member]}


def test_peer_urls_exclude_self_and_count_each_worker_once():
    assignor = RoutingAssignor("http://me:8000")
    routing = orjson.dumps({"http://me:8000": [0, 2], "http://peer:8000": [1, 3, 4]})
    assignor.on_assignment(ConsumerProtocolMemberAssignment(0, [(TOPIC, [0, 2])], routing))
    assert assignor.owners == {
        0: "http://me:8000",
        2: "http://me:8000",
        1: "http://peer:8000",
        3: "http://peer:8000",
        4: "http://peer:8000",
    }
    assert assignor.peer_urls() == {"http://peer:8000"}


def test_a_new_assignment_replaces_the_owners_and_one_without_a_map_clears_them():
    assignor = RoutingAssignor("http://me:8000")
    assignor.on_assignment(ConsumerProtocolMemberAssignment(0, [], orjson.dumps({"http://old:8000": [0, 1]})))
    assignor.on_assignment(ConsumerProtocolMemberAssignment(0, [], orjson.dumps({"http://new:8000": [1]})))
    assert assignor.owners == {1: "http://new:8000"}
    # An assignment from a plain round-robin leader (no user data): no owner known, no peers.
    assignor.on_assignment(wire(ConsumerProtocolMemberAssignment(0, [(TOPIC, [0])], b"")))
    assert assignor.owners == {} and assignor.peer_urls() == set()


def test_a_fresh_assignor_knows_no_owner():
    assignor = RoutingAssignor("http://me:8000")
    assert (assignor.url, assignor.owners, assignor.peer_urls()) == ("http://me:8000", {}, set())
    assert assignor.name == "engagement-routing"
