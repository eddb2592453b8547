"""streams.validation.structs and decode_slice: the msgspec structs generated from the event schema
must never accept what the JSON Schema rejects, must accept every event it admits (but the integral
floats where it says integer, which the engine hands to the full validator), and decoding a whole
slice at once must give exactly what decoding its messages one by one gives. The reference is
fastjsonschema compiled from the same schema file."""

from __future__ import annotations

import json

import fastjsonschema
import msgspec
import orjson
import pytest
from hypothesis import given, settings, strategies as st

from streams.validation import decode_message, decode_post, decode_slice
from streams.validation.structs import EVENT_CLASSES, event_structs, message_decoder
from tests.fixtures.paths import REPO

SCHEMAS = REPO / "schemas"
EVENT_SCHEMA = json.loads((SCHEMAS / "interaction-event.schema.json").read_text())
FIELDS = list(EVENT_SCHEMA["properties"])
TYPES = EVENT_SCHEMA["properties"]["type"]["enum"]
PLATFORMS = EVENT_SCHEMA["properties"]["platform"]["enum"]
NOW = 1_800_000_000_000
LIMITS = {"max_message_bytes": 2000, "max_batch_events": 4, "max_future_ms": 60_000}

reference = fastjsonschema.compile(EVENT_SCHEMA)


def schema_accepts(value) -> bool:
    try:
        reference(value)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def structs_accept(value) -> bool:
    try:
        decoded = message_decoder.decode(json.dumps(value).encode())  # json: orjson refuses big ints
    except msgspec.ValidationError:
        return False
    return not isinstance(decoded, list)


# Values near and across every bound in the schema, of every JSON type.
any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-10, max_value=10),
    st.sampled_from(
        [
            0,
            -1,
            946684799999,
            946684800000,
            1_700_000_000_000,
            32503680000000,
            32503680000001,
            86400000,
            86400001,
            1.0,
            -1.0,
            0.5,
            -1.5,
            1.7e12,
            86400000.5,
            -0.0,
        ]
    ),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=3),
    st.sampled_from(["", "x" * 200, "x" * 201, "é" * 200, "é" * 201]),
    st.sampled_from(
        TYPES
        + PLATFORMS
        + [
            "bogus",
            "2024-05-01T10:00:00Z",
            "2024-05-01t10:00:00.5+02:00",
            "2024-05-01T10:00:00",
            "2024-02-30T10:00:00Z",
            "2024-05-01",
            "Z" * 41,
        ]
    ),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)

common = st.fixed_dictionaries(
    {
        "event_id": st.text(min_size=1, max_size=200),
        "type": st.sampled_from(TYPES),
        "ts": st.integers(min_value=946684800000, max_value=32503680000000),
        "platform": st.sampled_from(PLATFORMS),
        "account_id": st.text(min_size=1, max_size=200),
        "post_id": st.text(min_size=1, max_size=200),
        "dwell_ms": st.integers(min_value=0, max_value=86400000),
        "in_reply_to": st.text(min_size=1, max_size=200),
        "resolves": st.text(min_size=1, max_size=200),
    },
    optional={"user_id": st.text(max_size=200), "sentiment": st.floats(min_value=-1, max_value=1)},
)

DELETE = object()


def mutate(base: dict, changes) -> dict:
    value = dict(base)
    for field, new in changes:
        if new is DELETE:
            value.pop(field, None)
        else:
            value[field] = new
    return value


# A valid event with one to three fields changed to a boundary value, any other type, or deleted.
mutated = st.builds(
    mutate,
    common,
    st.lists(
        st.tuples(st.sampled_from(FIELDS + ["extra"]), st.one_of(any_value, st.just(DELETE))), min_size=1, max_size=3
    ),
)
arbitrary = st.dictionaries(st.sampled_from(FIELDS), any_value)


def stricter_than_the_schema(value) -> bool:
    """Where msgspec refuses on purpose what the schema admits: an integral float as the integer ts."""
    return isinstance(value, dict) and isinstance(value.get("ts"), float)


@settings(max_examples=4000, deadline=None)
@given(st.one_of(mutated, arbitrary, any_value))
def test_structs_and_the_schema_agree_on_accept_and_reject(value):
    if structs_accept(value):
        assert schema_accepts(value), value
    elif schema_accepts(value):
        assert stricter_than_the_schema(value), value


@settings(max_examples=1000, deadline=None)
@given(common)
def test_every_event_of_the_common_shape_is_accepted_with_its_values(value):
    assert schema_accepts(value)
    event = message_decoder.decode(orjson.dumps(value))
    assert type(event) is EVENT_CLASSES[value["type"]] and event.type == value["type"]
    assert event.type_index == TYPES.index(value["type"])
    for field, given_value in value.items():
        if field != "type":
            assert getattr(event, field) == given_value and type(getattr(event, field)) is type(given_value)


@pytest.mark.parametrize(
    "value",
    [
        {"event_id": "e", "type": "like", "ts": 1_700_000_000_000, "platform": "x", "account_id": "a"},  # post_id
        {
            "event_id": "e",
            "type": "dwell",
            "ts": 1_700_000_000_000,
            "platform": "x",
            "account_id": "a",
            "post_id": "p",
        },  # dwell_ms
        {"event_id": "e", "type": "reply", "ts": 1_700_000_000_000, "platform": "x", "account_id": "a"},
        {"event_id": "e", "type": "resolve", "ts": 1_700_000_000_000, "platform": "x", "account_id": "a"},
        {"event_id": "e", "type": "follow", "ts": True, "platform": "x", "account_id": "a"},
        {
            "event_id": "e",
            "type": "follow",
            "ts": 1_700_000_000_000,
            "platform": "x",
            "account_id": "a",
            "sentiment": 1.5,
        },
        {
            "event_id": "e",
            "type": "follow",
            "ts": 1_700_000_000_000,
            "platform": "x",
            "account_id": "a",
            "user_id": None,
        },  # optional, but not nullable
        {"event_id": "e", "type": "follow", "ts": "2024-05-01T10:00:00", "platform": "x", "account_id": "a"},
    ],
)
def test_rejects(value):
    assert not schema_accepts(value)
    assert not structs_accept(value)


def test_a_keyword_not_translated_fails_loudly():
    schema = json.loads(json.dumps(EVENT_SCHEMA))
    schema["properties"]["account_id"]["pattern"] = "^acct-"
    with pytest.raises(ValueError, match="pattern"):
        event_structs(schema)
    schema = json.loads(json.dumps(EVENT_SCHEMA))
    schema["additionalProperties"] = False
    with pytest.raises(ValueError, match="additionalProperties"):
        event_structs(schema)


# -- decode_slice: one pass over a slice gives what decode_message gives per message -----------------
def _event(i: int, **changes) -> dict:
    return {
        "event_id": f"e{i}",
        "type": "like",
        "ts": NOW - i,
        "platform": "x",
        "account_id": "a",
        "post_id": "p",
        **changes,
    }


message_values = st.one_of(
    st.builds(lambda i: orjson.dumps(_event(i)), st.integers(0, 9)),  # valid, one line
    st.builds(lambda i: orjson.dumps([_event(i), _event(i + 1)]), st.integers(0, 9)),  # a valid batch
    st.builds(lambda v: json.dumps(v).encode(), mutated),  # likely invalid
    st.builds(lambda i: json.dumps(_event(i), indent=1).encode(), st.integers(0, 9)),  # valid, lines
    st.builds(lambda i: orjson.dumps(_event(i)) + b"," + orjson.dumps(_event(i + 1)), st.integers(0, 9)),
    st.builds(lambda i, cut: orjson.dumps(_event(i))[:cut], st.integers(0, 9), st.integers(0, 60)),
    st.builds(lambda i, cut: orjson.dumps(_event(i))[cut:], st.integers(0, 9), st.integers(1, 60)),
    st.builds(lambda i: orjson.dumps(_event(i, ts=NOW + 120_000)), st.integers(0, 9)),  # in the future
    st.builds(lambda i: orjson.dumps(_event(i, ts="2027-01-15T08:00:00Z")), st.integers(0, 9)),
    st.builds(lambda n: orjson.dumps([_event(i) for i in range(n)]), st.integers(0, 6)),  # empty, too long
    st.sampled_from([b"", b" ", b"\n", b"[]", b"{}", b"null", b"x" * 3000]),
    st.binary(max_size=20),
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(message_values, min_size=1, max_size=6))
def test_a_slice_decodes_as_its_messages_do_one_by_one(values):
    decoded = decode_slice(values, NOW, **LIMITS)
    if decoded is None:
        return  # the engine then decodes message by message
    assert len(decoded) == len(values)
    for value, item in zip(values, decoded):
        events, rejections = decode_message(value, NOW, **LIMITS)
        assert rejections == [], value
        assert (item if isinstance(item, list) else [item]) == events, value


def test_a_slice_of_valid_messages_is_decoded_in_one_pass():
    values = [orjson.dumps(_event(i)) for i in range(5)] + [orjson.dumps([_event(7), _event(8)])]
    decoded = decode_slice(values, NOW, **LIMITS)
    assert decoded is not None
    assert [e.event_id for e in decoded[:5]] == [f"e{i}" for i in range(5)]
    assert [e.event_id for e in decoded[5]] == ["e7", "e8"]


def test_a_message_of_two_lines_cannot_stand_in_for_a_blank_one():
    """A blank message has no line of its own, and a message of two events on two lines has two:
    as many lines as messages, but not one per message. The slice must not decode as two events."""
    values = [b" ", orjson.dumps(_event(2)) + b"\n" + orjson.dumps(_event(3))]
    assert len(message_decoder.decode_lines(b"\n".join(values))) == len(values)  # the trap is real
    assert decode_slice(values, NOW, **LIMITS) is None


# -- the post record struct: the post book's fast path (streams.kafka.posts) -------------------------
POST_SCHEMA = json.loads((SCHEMAS / "post.schema.json").read_text())
POST_FIELDS = list(POST_SCHEMA["properties"])
post_reference = fastjsonschema.compile(POST_SCHEMA)
posts = st.fixed_dictionaries(
    {
        "post_id": st.text(min_size=1, max_size=200),
        "account_id": st.text(min_size=1, max_size=200),
        "platform": st.sampled_from(POST_SCHEMA["properties"]["platform"]["enum"]),
        "published_at": st.integers(min_value=946684800000, max_value=2**70),
        "content_type": st.sampled_from(POST_SCHEMA["properties"]["content_type"]["enum"]),
    }
)
mutated_posts = st.builds(
    mutate,
    posts,
    st.lists(
        st.tuples(st.sampled_from(POST_FIELDS + ["campaign"]), st.one_of(any_value, st.just(DELETE))),
        min_size=1,
        max_size=3,
    ),
)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(posts, mutated_posts, st.dictionaries(st.sampled_from(POST_FIELDS), any_value), any_value))
def test_the_post_struct_accepts_what_the_schema_accepts_with_its_values_but_what_the_book_keeps_whole(value):
    """Never more than the schema; less only for a field the contract does not name and an integral
    float published_at, which the post book then validates in full (and keeps whole)."""
    try:
        post_reference(value)
        admitted = True
    except fastjsonschema.JsonSchemaValueException:
        admitted = False
    post = decode_post(json.dumps(value).encode())  # json: orjson refuses big ints
    if post is not None:
        assert admitted, value
        assert msgspec.structs.asdict(post) == value and type(post.published_at) is int
    elif admitted:
        assert set(value) != set(POST_FIELDS) or isinstance(value["published_at"], float), value
