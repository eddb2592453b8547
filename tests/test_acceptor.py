"""streams.validation.fastpath: the fast acceptance check must never accept what the schema rejects, and must
accept the common event shape (else the engine falls back to the slow validator for every event).
The reference is fastjsonschema compiled from the same schema file."""

from __future__ import annotations

import json
from pathlib import Path

import fastjsonschema
import pytest
from hypothesis import given, settings, strategies as st

from streams.validation.fastpath import compile_acceptor

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
EVENT_SCHEMA = json.loads((SCHEMAS / "interaction-event.schema.json").read_text())
FIELDS = list(EVENT_SCHEMA["properties"])
TYPES = EVENT_SCHEMA["properties"]["type"]["enum"]
PLATFORMS = EVENT_SCHEMA["properties"]["platform"]["enum"]

accepts = compile_acceptor(EVENT_SCHEMA)
reference = fastjsonschema.compile(EVENT_SCHEMA)


def schema_accepts(value) -> bool:
    try:
        reference(value)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


# Values near and across every bound in the schema, of every JSON type.
any_value = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10, max_value=10),
    st.sampled_from([0, -1, 946684799999, 946684800000, 1_700_000_000_000, 32503680000000, 32503680000001,
                     86400000, 86400001, 1.0, -1.0, 0.5, -1.5, 1.7e12, float("nan"), float("inf")]),
    st.floats(allow_nan=True), st.text(max_size=3), st.sampled_from(["", "x" * 200, "x" * 201]),
    st.sampled_from(TYPES + PLATFORMS + ["bogus", "2024-05-01T10:00:00Z", "2024-05-01", "Z" * 41]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))

common = st.fixed_dictionaries({
    "event_id": st.text(min_size=1, max_size=200), "type": st.sampled_from(TYPES),
    "ts": st.integers(min_value=946684800000, max_value=32503680000000),
    "platform": st.sampled_from(PLATFORMS), "account_id": st.text(min_size=1, max_size=200),
    "post_id": st.text(min_size=1, max_size=200), "dwell_ms": st.integers(min_value=0, max_value=86400000),
    "in_reply_to": st.text(min_size=1, max_size=200)},
    optional={"user_id": st.text(max_size=200), "sentiment": st.floats(min_value=-1, max_value=1)})


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
mutated = st.builds(mutate, common, st.lists(st.tuples(st.sampled_from(FIELDS + ["extra"]),
                                                       st.one_of(any_value, st.just(DELETE))),
                                             min_size=1, max_size=3))
arbitrary = st.dictionaries(st.sampled_from(FIELDS), any_value)


@settings(max_examples=4000, deadline=None)
@given(st.one_of(mutated, arbitrary, any_value))
def test_never_accepts_what_the_schema_rejects(value):
    if accepts(value):
        assert schema_accepts(value), value


@settings(max_examples=1000, deadline=None)
@given(common)
def test_accepts_the_common_shape(value):
    assert schema_accepts(value)
    assert accepts(value)


@pytest.mark.parametrize("value", [
    {"event_id": "e", "type": "like", "ts": 1_700_000_000_000, "platform": "x", "account_id": "a"},  # post_id
    {"event_id": "e", "type": "dwell", "ts": 1_700_000_000_000, "platform": "x", "account_id": "a",
     "post_id": "p"},  # dwell_ms
    {"event_id": "e", "type": "reply", "ts": 1_700_000_000_000, "platform": "x", "account_id": "a"},
    {"event_id": "e", "type": "follow", "ts": True, "platform": "x", "account_id": "a"},
    {"event_id": "e", "type": "follow", "ts": 1_700_000_000_000, "platform": "x", "account_id": "a",
     "sentiment": 1.5},
])
def test_rejects(value):
    assert not schema_accepts(value)
    assert not accepts(value)


def test_leaves_format_to_the_full_validator():
    value = {"event_id": "e", "type": "follow", "ts": "2024-05-01T10:00:00Z", "platform": "x", "account_id": "a"}
    assert schema_accepts(value)
    assert not accepts(value)  # "not sure": the caller runs the full validator


def test_unknown_keyword_fails_loudly():
    with pytest.raises(ValueError, match="pattern"):
        compile_acceptor({"type": "string", "pattern": "^a"})


def test_keywords_apply_to_their_own_type_only():
    check = compile_acceptor({"minLength": 2, "maximum": 3})
    assert check(5.0) is False and check("a") is False
    assert check([1]) is True and check("ab") is True and check(3) is True
