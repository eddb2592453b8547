"""A post's record that comes after its first events, with a SIGKILL and a restart in between (the
reference book is a separate consumer: this order is normal). The restarted worker must adopt the
record as the uninterrupted one does: its content type and publication time in every lifetime record,
complete, in ER per post. The unit test of the mechanism: tests/unit/state/test_lifetimes.py."""

from __future__ import annotations

import signal
import time

import orjson
import pytest

from tests.fixtures.kafka import isolated_settings, json_values, produce, read_all, run, wait_for

pytestmark = pytest.mark.integration

FIRST_AGE_S, LIFETIME_S = 20, 30  # the record must come within the first age; a restart fits in it
ACCOUNT, POST = "acct-late-record", "acct-late-record-p1"


def event(i: int, type_: str, post_id: str, ts: int) -> tuple[bytes, bytes]:
    value = {"event_id": f"{post_id}-{type_}-{i}", "type": type_, "ts": ts, "platform": "instagram"}
    return ACCOUNT.encode(), orjson.dumps({**value, "account_id": ACCOUNT, "post_id": post_id})


def test_a_post_record_after_its_events_and_a_restart_is_adopted(kafka_bootstrap, workers, topics_ready):
    settings = topics_ready(
        isolated_settings(
            kafka_bootstrap,
            window_seconds=2,
            window_grace_seconds=3,
            rolling_window_seconds=10,
            commit_interval_seconds=0.3,
            snapshot_interval_seconds=5,
            post_lifetime_ages_seconds=(str(FIRST_AGE_S),),
            post_maturity_seconds=LIFETIME_S,
            post_lifetime_seconds=LIFETIME_S,
            benchmark_period_seconds=600,
        )
    )
    worker = workers(settings).start()
    # The partition's first input: a post published after it is counted from its publication (complete).
    run(
        produce(
            settings,
            settings.topic_interactions,
            [event(0, "impression", f"{ACCOUNT}-warm-up", int(time.time() * 1000))],
        )
    )
    wait_for(lambda: worker.metrics().get("engagement_events_counted_total") == 1, 30, "the first event counted")
    time.sleep(1)
    published = int(time.time() * 1000)
    events = [event(i, "like", POST, published + 100) for i in range(30)]
    events += [event(i, "impression", POST, published + 200) for i in range(50)]
    run(produce(settings, settings.topic_interactions, events))
    wait_for(lambda: worker.metrics().get("engagement_events_counted_total") == 81, 30, "the post's events counted")
    time.sleep(1)  # committed: a commit every 0.3 s
    worker.stop(sig=signal.SIGKILL)
    worker.start()
    record = {
        "post_id": POST,
        "account_id": ACCOUNT,
        "platform": "instagram",
        "published_at": published,
        "content_type": "reel",
    }
    run(produce(settings, settings.topic_posts, [(POST.encode(), orjson.dumps(record))]))

    def lifetimes() -> dict[int, dict]:
        records = json_values(run(read_all(settings, settings.topic_post_lifetime, idle_ms=1000)))
        return {r["age_ms"]: r for r in records if r["post_id"] == POST}

    got = wait_for(lambda: (r := lifetimes()) and len(r) == 2 and r, LIFETIME_S + 40, "the post's two lifetime records")
    assert sorted(got) == [FIRST_AGE_S * 1000, LIFETIME_S * 1000]
    for age, life in got.items():
        assert (
            life["content_type"],
            life["published_at"],
            life["published_at_source"],
            life["complete"],
            {t: n for t, n in life["counts"].items() if n},
        ) == ("reel", published, "post_record", True, {"like": 30, "impression": 50}), age
