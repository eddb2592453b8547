"""The live queries of the HTTP API (streams.engine.queries), no broker: which partition and worker
own an account (Kafka's default partitioner and the routing assignor's owners), a post's open
windows and lifetime so far from whichever owned partition holds it, and an account's open windows
(tumbling, or the rolling one) from its partition, None when this worker does not own it.

The states are real ``PartitionState``s in an ``OwnedPartitions``, the follower counts an
``AccountBook`` filled without Kafka, the clock fixed. The account ids are keys whose murmur2 hash is
one of Kafka's own test vectors (UtilsTest.testMurmur2), so the expected partitions are worked out
here: (hash & 0x7fffffff) % 8."""

from __future__ import annotations

import orjson
import pytest
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from streams.engine import queries
from streams.engine.parts import OwnedPartitions
from streams.engine.queries import LiveQueries
from streams.engine.routing import RoutingAssignor
from streams.kafka.accounts import AccountBook
from streams.settings import Settings
from streams.state import COUNTED, PartitionState
from streams.validation.structs import event_from
from tests.fixtures.state import B0, CFG, G, R, W

SETTINGS = Settings.from_env({"ENGAGEMENT_TOPIC_PARTITIONS": "8"})
# Kafka's murmur2 test vectors, as signed 32-bit ints, and their partition of 8.
FOOBAR, ABC, K21 = "foobar", "abc", "21"
P_FOOBAR = (-790332482 & 0x7FFFFFFF) % 8  # 6
P_ABC = 479470107 % 8  # 3
P_21 = (-973932308 & 0x7FFFFFFF) % 8  # 4
ME, PEER = "http://worker-0:8000", "http://worker-1:8000"
NOW = B0 + W + G + 5_000  # the fixed clock: window B0 closed, B0 + W open
FOLLOWERS = {FOOBAR: 4000, ABC: 500}


def event(event_id: str, ts: int, type_: str, account: str, post: str | None = None):
    data = {"event_id": event_id, "type": type_, "ts": ts, "platform": "tiktok", "account_id": account}
    if post is not None:
        data["post_id"] = post
    return event_from(data)


@pytest.fixture
def live(monkeypatch):
    """This worker owns partitions P_ABC and P_FOOBAR; the peer owns P_21; nobody is known for the rest."""
    monkeypatch.setattr(queries, "now_ms", lambda: NOW)
    owned = OwnedPartitions()
    for partition in (P_ABC, P_FOOBAR):  # the post queried lives in the second one
        owned.states[partition] = PartitionState(partition, CFG, closed_through=B0)
    assignor = RoutingAssignor(ME)
    routing = orjson.dumps({ME: [P_ABC, P_FOOBAR], PEER: [P_21]})
    assignor.on_assignment(ConsumerProtocolMemberAssignment(0, [], routing))
    accounts = AccountBook(SETTINGS)
    for account_id, followers in FOLLOWERS.items():
        accounts.records[account_id] = {"account_id": account_id, "platform": "tiktok", "followers": followers}
    return LiveQueries(SETTINGS, owned, assignor, accounts)


def fill(live: LiveQueries) -> PartitionState:
    """foobar's post: 2 likes in window B0, a share in B0 + W, committed (B0 closes), then a like in B0 + W
    not committed yet. The abc partition holds another post of its own."""
    state = live.owned.states[P_FOOBAR]
    for e in (
        event("l1", B0 + 1, "like", FOOBAR, "post-f"),
        event("l2", B0 + 2, "like", FOOBAR, "post-f"),
        event("s1", B0 + W + 1, "share", FOOBAR, "post-f"),
    ):
        assert state.add(e, B0 + W) == COUNTED
    state.commit(B0 + W + G, live.accounts.followers_of)  # closes window B0
    assert state.closed_through == B0 + W
    assert state.add(event("l3", B0 + W + 2, "like", FOOBAR, "post-f"), NOW) == COUNTED
    other = live.owned.states[P_ABC]
    assert other.add(event("x1", B0 + W + 3, "click", ABC, "post-a"), NOW) == COUNTED
    return state


def test_owner_of_account_by_the_partitioner_and_the_assignors_owners(live):
    assert live.owner_of_account(FOOBAR) == (P_FOOBAR, ME)
    assert live.owner_of_account(K21) == (P_21, PEER)
    live.assignor.on_assignment(ConsumerProtocolMemberAssignment(0, [], orjson.dumps({PEER: [P_FOOBAR]})))
    assert live.owner_of_account(FOOBAR) == (P_FOOBAR, PEER)  # a rebalance moved it
    assert live.owner_of_account(ABC) == (P_ABC, None)  # no owner known


def test_live_post_reads_the_owned_partition_holding_it(live):
    fill(live)
    windows, lifetime = live.live_post("post-f")
    # Window B0 is final (published), B0 + W open: the committed share and the uncommitted like.
    assert [(r["window_start"], r["window_end"], r["counts"]["like"], r["counts"]["share"]) for r in windows] == [
        (B0 + W, B0 + 2 * W, 1, 1)
    ]
    record = windows[0]
    assert (record["account_id"], record["followers"], record["emitted_at"]) == (FOOBAR, 4000, NOW)
    assert record["engaged"] == 2 and record["rates"]["er_followers"] == 2 / 4000
    # The lifetime so far, from the first event (no post record): every event, closed window or not.
    assert lifetime is not None
    assert (lifetime["published_at"], lifetime["published_at_source"]) == (B0 + 1, "first_event")
    assert lifetime["age_ms"] == NOW - (B0 + 1)
    assert (lifetime["counts"]["like"], lifetime["counts"]["share"], lifetime["engaged"]) == (3, 1, 4)
    assert lifetime["rates"]["er_followers"] == 4 / 4000


def test_live_post_of_the_other_owned_partition_and_of_an_unknown_post(live):
    fill(live)
    windows, lifetime = live.live_post("post-a")
    assert [(r["account_id"], r["counts"]["click"], r["followers"]) for r in windows] == [(ABC, 1, 500)]
    assert lifetime is not None and lifetime["account_id"] == ABC and lifetime["engaged"] == 1
    assert live.live_post("post-nowhere") == ([], None)


def test_live_account_is_none_for_a_partition_this_worker_does_not_own(live):
    assert live.live_account(K21, rolling=False) is None
    assert live.live_account(K21, rolling=True) is None


def test_live_account_of_an_owned_partition_without_traffic_is_empty(live):
    assert live.live_account(ABC, rolling=False) == []
    assert live.live_account(ABC, rolling=True) == []


def test_live_account_gives_the_open_tumbling_windows(live):
    fill(live)
    records = live.live_account(FOOBAR, rolling=False)
    # Window B0 is closed (its bucket kept for the rolling window only): B0 + W alone, share + like.
    assert [(r["window_kind"], r["window_start"], r["window_end"]) for r in records] == [
        ("tumbling", B0 + W, B0 + 2 * W)
    ]
    record = records[0]
    assert (record["counts"]["like"], record["counts"]["share"], record["engaged"]) == (1, 1, 2)
    assert (record["active_posts"], record["followers"], record["emitted_at"]) == (1, 4000, NOW)


def test_live_account_gives_the_rolling_window_ending_after_now(live):
    fill(live)
    end = B0 + 7 * W  # now (B0 + 6W + 5 s) is in window [B0 + 6W, B0 + 7W)
    records = live.live_account(FOOBAR, rolling=True)
    assert [(r["window_kind"], r["window_start"], r["window_end"]) for r in records] == [("rolling", end - R, end)]
    record = records[0]
    # Both buckets, committed and not: 3 likes, 1 share.
    assert (record["counts"]["like"], record["counts"]["share"], record["engaged"]) == (3, 1, 4)
    assert record["rates"]["er_followers"] == 4 / 4000 and record["emitted_at"] == NOW
