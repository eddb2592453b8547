"""Unit tests of streams.validation: decoding, validation and the DLQ reason codes (no Kafka)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import example, given, settings, strategies as st

from streams.validation import Rejection, decode_message, validate_event, validate_post
from streams.validation.structs import InteractionEvent
from tests.fixtures.paths import REPO

SCHEMAS = REPO / "schemas"
REASON_PATTERN = re.compile(json.loads((SCHEMAS / "dlq.schema.json").read_text())["properties"]["reason"]["pattern"])

NOW = 1_700_000_000_000  # 2023-11-14T22:13:20Z
MAX_FUTURE = 300_000
LIMITS = dict(max_message_bytes=4096, max_batch_events=5, max_future_ms=MAX_FUTURE)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ev(**changes) -> dict:
    """A valid like; keyword None removes the field."""
    base = {
        "event_id": "e1",
        "type": "like",
        "ts": NOW - 1000,
        "platform": "instagram",
        "account_id": "acc",
        "post_id": "p1",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def decode(value: bytes, now=NOW, **limits):
    return decode_message(value, now, **{**LIMITS, **limits})


def only_rejection(value: bytes, **limits) -> Rejection:
    events, rejections = decode(value, **limits)
    assert events == []
    assert len(rejections) == 1
    return rejections[0]


def reason_of(data) -> str:
    event, reason, error = validate_event(data, NOW, MAX_FUTURE)
    assert event is None, f"accepted {data!r}"
    assert error
    return reason


# -- valid input -------------------------------------------------------------------------------


def test_valid_single_event():
    events, rejections = decode(orjson.dumps(ev()))
    assert rejections == []
    assert len(events) == 1
    assert events[0].ts == NOW - 1000
    assert events[0].event_id == "e1"


@pytest.mark.parametrize(
    "data",
    [
        ev(type="dwell", dwell_ms=0),
        ev(type="dwell", dwell_ms=86_400_000),
        ev(type="dwell", dwell_ms=12.5),
        ev(type="comment", sentiment=-1),
        ev(type="mention", post_id=None, sentiment=1),
        ev(type="follow", post_id=None),
        ev(type="unfollow", post_id=None),
        ev(type="reply", post_id=None, in_reply_to="m1"),
        ev(platform="email"),
        ev(user_id="u1"),
    ],
)
def test_valid_variants(data):
    event, reason, error = validate_event(data, NOW, MAX_FUTURE)
    assert event is not None, (reason, error)
    assert (reason, error) == ("", "")
    assert isinstance(event.ts, int)


# -- malformed_json ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        b"{not json",
        b"\xff\xfe",
        b"NaN",
        b'{"a": NaN}',
        b"Infinity",
        b"",
        b'{"event_id": "e1",',
        b"[1, 2",
        b'"\xff"',
        b"{}{}",
    ],
)
def test_malformed_json(value):
    rejection = only_rejection(value)
    assert rejection.reason == "malformed_json"
    assert rejection.batch_index is None
    assert rejection.original == value


def test_none_message_is_malformed():
    rejection = only_rejection(None)
    assert rejection.reason == "malformed_json"


# -- too_large -----------------------------------------------------------------------------------


def test_message_over_max_bytes():
    value = orjson.dumps(ev(user_id="u" * 200))
    assert only_rejection(value, max_message_bytes=len(value) - 1).reason == "too_large"
    events, rejections = decode(value, max_message_bytes=len(value))  # exactly the limit: fine
    assert len(events) == 1 and rejections == []


def test_batch_over_max_events():
    batch = [ev(event_id=f"e{i}") for i in range(6)]
    rejection = only_rejection(orjson.dumps(batch), max_batch_events=5)
    assert rejection.reason == "too_large"
    assert rejection.batch_index is None
    events, rejections = decode(orjson.dumps(batch[:5]), max_batch_events=5)
    assert len(events) == 5 and rejections == []


# -- unknown_type and schema:<field> -------------------------------------------------------------


def test_unknown_type():
    assert reason_of(ev(type="poke")) == "unknown_type"
    assert only_rejection(orjson.dumps(ev(type="poke"))).reason == "unknown_type"


@pytest.mark.parametrize(
    "data,reason",
    [
        (ev(post_id=None), "schema:post_id"),
        (ev(type="impression", post_id=None), "schema:post_id"),
        (ev(type="dwell"), "schema:dwell_ms"),
        (ev(type="dwell", dwell_ms=-1), "schema:dwell_ms"),
        (ev(type="dwell", dwell_ms=86_400_001), "schema:dwell_ms"),
        (ev(type="dwell", dwell_ms="10"), "schema:dwell_ms"),
        (ev(type="comment", sentiment=2), "schema:sentiment"),
        (ev(type="comment", sentiment=-1.5), "schema:sentiment"),
        (ev(platform="myspace"), "schema:platform"),
        (ev(ts=946_684_799_999), "schema:ts"),  # 1999-12-31T23:59:59.999Z as epoch ms
        (ev(ts=0), "schema:ts"),
        (ev(ts=-5), "schema:ts"),
        (ev(ts="2023-11-14T22:13:20"), "schema:ts"),  # naive: no offset
        (ev(ts="2023-11-14"), "schema:ts"),
        (ev(ts="yesterday"), "schema:ts"),
        (ev(ts=True), "schema:ts"),
        (ev(ts=1.7e12 + 0.5), "schema:ts"),
        (ev(type="reply", post_id=None), "schema:in_reply_to"),
        (ev(type="reply", post_id=None, in_reply_to=""), "schema:in_reply_to"),
        (ev(event_id=None), "schema:event_id"),
        (ev(event_id=""), "schema:event_id"),
        (ev(account_id=None), "schema:account_id"),
        (ev(ts=None), "schema:ts"),
        (ev(platform=None), "schema:platform"),
        (ev(type=None), "schema:type"),
        (ev(type=5), "schema:type"),
        (ev(event_id="x" * 201), "schema:event_id"),
    ],
)
def test_schema_reasons(data, reason):
    assert reason_of(data) == reason
    rejection = only_rejection(orjson.dumps(data))
    assert rejection.reason == reason
    assert REASON_PATTERN.search(rejection.reason)


@pytest.mark.parametrize("item", [5, "like", None, [ev()], True])
def test_non_object_in_batch(item):
    events, rejections = decode(orjson.dumps([ev(), item]))
    assert len(events) == 1
    assert [(r.reason, r.batch_index) for r in rejections] == [("schema:event", 1)]


@pytest.mark.parametrize("value", [b"5", b'"like"', b"null", b"true"])
def test_non_object_message(value):
    assert only_rejection(value).reason == "schema:event"


def test_empty_batch():
    assert only_rejection(b"[]").reason == "schema:event"


# -- future_ts -------------------------------------------------------------------------------------


def test_future_ts():
    assert reason_of(ev(ts=NOW + MAX_FUTURE + 1)) == "future_ts"
    event, reason, _ = validate_event(ev(ts=NOW + MAX_FUTURE), NOW, MAX_FUTURE)
    assert event is not None and event.ts == NOW + MAX_FUTURE
    iso_future = (EPOCH + timedelta(milliseconds=NOW + MAX_FUTURE + 60_000)).isoformat()
    assert reason_of(ev(ts=iso_future)) == "future_ts"


def test_future_ts_relative_to_given_now():
    data = ev(ts=NOW + 10 * MAX_FUTURE)
    assert decode(orjson.dumps(data))[1][0].reason == "future_ts"
    events, rejections = decode(orjson.dumps(data), now=NOW + 10 * MAX_FUTURE)
    assert len(events) == 1 and rejections == []


# -- ts formats ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iso,ms",
    [
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),
        ("2023-11-14T22:13:20+00:00", 1_700_000_000_000),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000_000),
        ("2023-11-14T17:43:20-04:30", 1_700_000_000_000),
        ("2023-11-14T22:13:20.123Z", 1_700_000_000_123),
        ("2023-11-14T22:13:19.999Z", 1_699_999_999_999),
        ("2000-01-01T00:00:00Z", 946_684_800_000),
        ("2000-01-01T01:00:00+01:00", 946_684_800_000),
    ],
)
def test_rfc3339_and_epoch_ms_agree(iso, ms):
    a, _, _ = validate_event(ev(ts=iso), NOW, MAX_FUTURE)
    b, _, _ = validate_event(ev(ts=ms), NOW, MAX_FUTURE)
    assert a is not None and b is not None
    assert a.ts == b.ts == ms


# Regression: a float conversion made some times 1 ms early ("2004-01-10T16:44:07.814Z" -> ...813).
@settings(max_examples=300, deadline=None)
@given(ms=st.integers(946_684_800_000, 2_200_000_000_000), offset_min=st.sampled_from([0, 60, -270, 330, 840, -720]))
@example(ms=1_073_753_047_814, offset_min=0)
@example(ms=2_173_596_149_601, offset_min=0)
def test_rfc3339_with_millis_equals_epoch_ms(ms, offset_min):
    tz = timezone(timedelta(minutes=offset_min))
    iso = (EPOCH + timedelta(milliseconds=ms)).astimezone(tz).isoformat(timespec="milliseconds")
    if offset_min == 0:
        iso = iso.replace("+00:00", "Z")
    now = 33_000_000_000_000
    a, reason, error = validate_event(ev(ts=iso), now, MAX_FUTURE)
    assert a is not None, (iso, reason, error)
    assert a.ts == ms, iso


# Regression: the schema's "not before 2000" held only for the epoch-ms form of ts.
@pytest.mark.parametrize(
    "iso", ["1999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "2000-01-01T00:59:59+01:00"]
)
def test_rfc3339_before_2000_is_schema_ts(iso):
    assert reason_of(ev(ts=iso)) == "schema:ts"


# -- batches --------------------------------------------------------------------------------------


def test_batch_mixes_valid_and_invalid():
    batch = [
        ev(event_id="ok1"),
        ev(event_id="bad1", post_id=None),
        42,
        ev(event_id="ok2", type="follow", post_id=None),
        ev(event_id="bad2", type="zap"),
        ev(event_id="bad3", ts=NOW + 10 * MAX_FUTURE),
    ]
    events, rejections = decode(orjson.dumps(batch), max_batch_events=10)
    assert [e.event_id for e in events] == ["ok1", "ok2"]
    assert [(r.reason, r.batch_index) for r in rejections] == [
        ("schema:post_id", 1),
        ("schema:event", 2),
        ("unknown_type", 4),
        ("future_ts", 5),
    ]
    # each rejected batch item carries that item re-encoded as JSON
    for r in rejections:
        assert orjson.loads(r.original) == batch[r.batch_index]


def test_batch_all_valid_keeps_order():
    batch = [ev(event_id=f"e{i}", ts=NOW - i) for i in range(5)]
    events, rejections = decode(orjson.dumps(batch))
    assert rejections == []
    assert [(e.event_id, e.ts) for e in events] == [(f"e{i}", NOW - i) for i in range(5)]


def test_whole_message_rejection_keeps_original_bytes():
    value = orjson.dumps(ev(platform="myspace"))
    rejection = only_rejection(value)
    assert rejection.original == value and rejection.batch_index is None


# -- property: decode_message never raises and always accounts for the message ---------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)

field_values = {
    "event_id": st.one_of(st.text(max_size=5), json_values),
    "type": st.one_of(st.sampled_from(["like", "dwell", "reply", "comment", "follow", "poke", ""]), json_values),
    "ts": st.one_of(
        st.integers(0, 40_000_000_000_000),
        st.just(NOW),
        st.sampled_from(
            [
                "2023-11-14T22:13:20Z",
                "2023-11-14T22:13:20",
                "1999-01-01T00:00:00Z",
                "2023-13-40T99:99:99Z",
                "2023-11-14t22:13:20z",
                "9999-12-31T23:59:59Z",
            ]
        ),
        json_values,
    ),
    "platform": st.one_of(st.sampled_from(["x", "web", "myspace"]), json_values),
    "account_id": st.one_of(st.just("a"), json_values),
    "post_id": st.one_of(st.just("p"), json_values),
    "dwell_ms": st.one_of(st.integers(-10, 100_000_000), st.floats(allow_nan=False, allow_infinity=False), json_values),
    "sentiment": st.one_of(st.floats(-2, 2, allow_nan=False), json_values),
    "in_reply_to": st.one_of(st.just("m"), json_values),
}
event_like = st.fixed_dictionaries({}, optional=field_values)


def _check_decoded(value: bytes, events, rejections, limits):
    assert len(events) + len(rejections) >= 1
    for r in rejections:
        assert isinstance(r, Rejection)
        assert REASON_PATTERN.search(r.reason), r.reason
        assert isinstance(r.original, bytes)
        assert r.batch_index is None or r.batch_index >= 0
    for e in events:
        assert isinstance(e, InteractionEvent)
        assert isinstance(e.ts, int)
        assert 946_684_800_000 <= e.ts
        assert e.ts <= NOW + limits["max_future_ms"]
    indexes = [r.batch_index for r in rejections if r.batch_index is not None]
    assert len(indexes) == len(set(indexes))


@settings(max_examples=300, deadline=None)
@given(value=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(value):
    events, rejections = decode(value)
    _check_decoded(value, events, rejections, LIMITS)


@settings(max_examples=200, deadline=None)
@given(
    data=st.one_of(json_values, event_like, st.lists(st.one_of(event_like, json_values), max_size=7)),
    ascii_only=st.booleans(),
)
def test_arbitrary_json_never_raises(data, ascii_only):
    value = json.dumps(data, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    events, rejections = decode(value)
    _check_decoded(value, events, rejections, LIMITS)
    if (
        isinstance(data, list)
        and 0 < len(data) <= LIMITS["max_batch_events"]
        and len(value) <= LIMITS["max_message_bytes"]
        and all(isinstance(x, dict) for x in data)
    ):
        try:
            orjson.loads(value)
        except orjson.JSONDecodeError:
            return  # e.g. integers beyond 64 bits: the whole message is malformed_json
        # a parsed batch: one outcome per item, each rejection at its own index
        assert len(events) + len(rejections) == len(data)


def test_a_post_record_published_before_the_horizon_is_neither_held_nor_validated():
    """The post book reads a topic holding the lifetime and a benchmark period; what is past the
    lifetime it skips unvalidated (the app's agents validate every record for the DLQ)."""
    t = 1_700_000_000_000
    record = {"post_id": "p1", "account_id": "a1", "platform": "x", "published_at": t, "content_type": "text"}
    assert validate_post(orjson.dumps(record), published_since=t) == (record, None)
    assert validate_post(orjson.dumps(record), published_since=t + 1) == (None, None)
    invalid = {"post_id": "p1", "published_at": t}  # no account: rejected when it is validated
    assert validate_post(orjson.dumps(invalid))[1].reason.startswith("schema")
    assert validate_post(orjson.dumps(invalid), published_since=t + 1) == (None, None)
    for dated in (str(t), t - 0.5, None):  # not an epoch ms: validated, and rejected
        assert validate_post(orjson.dumps({**invalid, "published_at": dated}), published_since=t + 1)[1] is not None
