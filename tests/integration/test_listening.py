"""The listening state for real (Kafka, a worker, SIGKILL): mentions past both SLAs (acknowledged ones
past the resolve SLA only), their restore, expiry, a reply and a resolve read before their mention, a
reply that matches nothing, the response times in the account records and the histogram, and the
mentions resolved, answered or not. SLAs and the retention are shortened by settings; every expected
value is worked out here from the events this test produces."""

from __future__ import annotations

import signal
import time

import orjson
import pytest

from tests.fixtures.kafka import isolated_settings, json_values, produce, read_all, run, wait_for

ACK_S, RESOLVE_S, RETENTION_S = 12, 20, 32
PLATFORM = {"acct-a": "instagram", "acct-b": "x"}


def now_ms() -> int:
    return int(time.time() * 1000)


def mention(event_id: str, account: str, ts: int) -> dict:
    return {
        "event_id": event_id,
        "type": "mention",
        "ts": ts,
        "platform": PLATFORM[account],
        "account_id": account,
        "user_id": "user-1",
        "sentiment": -0.6,
    }


def reply(event_id: str, account: str, ts: int, to: str) -> dict:
    return {
        "event_id": event_id,
        "type": "reply",
        "ts": ts,
        "platform": PLATFORM[account],
        "account_id": account,
        "user_id": account,
        "in_reply_to": to,
    }


def resolve(event_id: str, account: str, ts: int, of: str) -> dict:
    return {
        "event_id": event_id,
        "type": "resolve",
        "ts": ts,
        "platform": PLATFORM[account],
        "account_id": account,
        "user_id": account,
        "resolves": of,
    }


def send(settings, events: list[dict]) -> None:
    run(produce(settings, settings.topic_interactions, [(e["account_id"].encode(), orjson.dumps(e)) for e in events]))


def series(metrics: dict, name: str) -> dict[str, float]:
    return {key: value for key, value in metrics.items() if key.startswith(name + "{")}


@pytest.mark.integration
def test_unanswered_mentions_survive_sigkill_expire_and_replies_give_response_times(
    kafka_bootstrap, workers, topics_ready
):
    settings = topics_ready(
        isolated_settings(
            kafka_bootstrap,
            window_seconds=2,
            window_grace_seconds=1,
            rolling_window_seconds=10,
            commit_interval_seconds=0.3,
            mention_acknowledge_sla_seconds=ACK_S,
            mention_resolve_sla_seconds=RESOLVE_S,
            mention_retention_seconds=RETENTION_S,
        )
    )
    worker = workers(settings).start()

    t0 = now_ms()
    first = [mention(f"a{i}", "acct-a", t0) for i in range(1, 6)] + [mention(f"b{i}", "acct-b", t0) for i in (1, 2)]
    # A reply and a resolve read before their mention (the mention is older), and a reply to a
    # mention never seen.
    first += [
        reply("r-early", "acct-a", t0 + 40, "a-early"),
        resolve("s-early", "acct-a", t0 + 45, "a-early"),
        mention("a-early", "acct-a", t0 - 500),
        reply("r-ghost", "acct-b", t0 + 50, "ghost"),
    ]
    send(settings, first)
    time.sleep(1.0)
    r1 = reply("r1", "acct-a", now_ms(), "a1")
    r4 = reply("r4", "acct-a", r1["ts"], "a4")  # acknowledged, never resolved: restored as such
    # a1 answered and closed; a5 closed without answer.
    team = [r1, resolve("s1", "acct-a", r1["ts"] + 1, "a1"), r4, resolve("s5", "acct-a", r1["ts"] + 2, "a5")]
    send(settings, team)
    # The ghost reply is dropped once its window has closed: no mention it could answer can count.
    wait_for(lambda: worker.metrics().get("engagement_replies_unmatched_total") == 1, 30, "the unmatched reply")
    wait_for(
        lambda: worker.metrics().get("engagement_events_counted_total") == len(first) + len(team), 30, "the events"
    )

    worker.stop(sig=signal.SIGKILL)
    worker.start(timeout=60)
    r2 = reply("r2", "acct-a", now_ms(), "a2")  # answers a mention the restarted worker restored
    send(settings, [r2])
    responses_ms = {"r1": r1["ts"] - t0, "r-early": 540, "r4": r4["ts"] - t0, "r2": r2["ts"] - t0}
    # Not resolved: a2 a4 (acknowledged), a3, b1 b2; past acknowledge, those not replied to either.
    past = {"acknowledge": {"acct-a": 1, "acct-b": 2}, "resolve": {"acct-a": 3, "acct-b": 2}}

    # Past both SLAs: the restored mentions count on the restarted worker, oldest at t0.
    def overdue():
        metrics = worker.metrics()
        got = series(metrics, "engagement_mentions_unanswered")
        want = {
            f'engagement_mentions_unanswered{{account_id="{a}",sla="{sla}"}}': float(n)
            for sla, counts in past.items()
            for a, n in counts.items()
        }
        return got == want and metrics

    metrics = wait_for(overdue, RESOLVE_S + 15, "the open mentions past both SLAs")
    assert series(metrics, "engagement_mentions_unanswered_oldest_timestamp_seconds") == {
        f'engagement_mentions_unanswered_oldest_timestamp_seconds{{account_id="{a}"}}': t0 / 1000
        for a in past["resolve"]
    }
    assert metrics["engagement_mentions_open"] == 5 and metrics["engagement_mentions_acknowledged"] == 2
    assert metrics['engagement_mention_sla_seconds{sla="acknowledge"}'] == ACK_S
    # The histogram of this worker holds the response it matched: r2's.
    assert metrics['engagement_mention_response_seconds_count{platform="instagram"}'] == 1
    assert metrics['engagement_mention_response_seconds_sum{platform="instagram"}'] == responses_ms["r2"] / 1000

    # Past the retention they are dropped: no series, counted as expired.
    wait_for(
        lambda: (
            not series(worker.metrics(), "engagement_mentions_unanswered")
            and worker.metrics().get("engagement_mentions_expired_total") == 5
        ),
        RETENTION_S + 15 - (now_ms() - t0) / 1000,
        "the expiry",
    )

    # The account records: each response exactly once (across the SIGKILL), with its time.
    records = [
        r
        for r in json_values(run(read_all(settings, settings.topic_account_metrics)))
        if r["window_kind"] == "tumbling"
    ]
    answered = [r for r in records if r["responses"]["answered"]]
    assert {r["account_id"] for r in answered} == {"acct-a"}
    assert sum(r["responses"]["answered"] for r in answered) == len(responses_ms)
    assert sum(r["responses"]["response_ms_sum"] for r in answered) == sum(responses_ms.values())
    assert max(r["responses"]["response_ms_max"] for r in answered) == max(responses_ms.values())
    assert sum(r["responses"]["within_acknowledge_sla"] for r in answered) == sum(
        ms <= ACK_S * 1000 for ms in responses_ms.values()
    )
    assert sum(r["counts"]["mention"] for r in records) == 8 and sum(r["counts"]["reply"] for r in records) == 5
    # Resolved: a1 and a-early answered, a5 without answer (and left out of the response times).
    assert sum(r["responses"]["resolved"] for r in records) == 3 == sum(r["counts"]["resolve"] for r in records)
    assert sum(r["responses"]["closed_without_answer"] for r in records) == 1
