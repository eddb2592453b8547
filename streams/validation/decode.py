"""Decoding and validation of input messages against the schemas in ``schemas/`` (the contract).

A message holds one JSON event or a JSON array of events; validation is per event. Every rejection
carries a reason code (``malformed_json``, ``too_large``, ``unknown_type``, ``future_ts``,
``schema:<field>``); the engine adds ``late``. Nothing here touches Kafka.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import fastjsonschema
import msgspec
import orjson

from ..contract import ACCOUNT_SCHEMA, EVENT_SCHEMA, POST_SCHEMA, TYPES
from .dlq import Rejection
from .structs import InteractionEvent, PostRecord, event_from, message_decoder, post_decoder

_validate_event = fastjsonschema.compile(EVENT_SCHEMA)
_validate_account = fastjsonschema.compile(ACCOUNT_SCHEMA)
_validate_post = fastjsonschema.compile(POST_SCHEMA)
_KNOWN_TYPES = frozenset(TYPES)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The schema's minimum for epoch-ms ts; the same bound applies to the RFC 3339 form.
MIN_TS_MS = next(alt["minimum"] for alt in EVENT_SCHEMA["properties"]["ts"]["anyOf"] if alt["type"] == "integer")


def _schema_reason(exc: fastjsonschema.JsonSchemaValueException, data: Any) -> tuple[str, str]:
    """The field that broke the schema: the path of the failing value, or the missing property."""
    if exc.rule == "required" and isinstance(data, dict) and isinstance(exc.rule_definition, list):
        missing = [name for name in exc.rule_definition if name not in data]
        if missing:
            return f"schema:{missing[0]}", f"missing required field {missing[0]!r}"
    path = [str(p) for p in (exc.path or [])[1:]]
    field = path[0] if path else "event"
    if (
        field == "type"
        and isinstance(data, dict)
        and isinstance(data.get("type"), str)
        and data["type"] not in _KNOWN_TYPES
    ):
        return "unknown_type", f"unknown interaction type {data['type'][:100]!r}"
    return f"schema:{field}", exc.message


def parse_ts(ts: Any) -> int:
    """Epoch milliseconds from an epoch-ms integer or an RFC 3339 string with an offset."""
    if isinstance(ts, (int, float)):  # the schema lets integral floats such as 1.7e12 through
        return int(ts)
    moment = datetime.fromisoformat(ts.upper())  # RFC 3339 allows a lower-case t and z
    if moment.tzinfo is None:
        raise ValueError("RFC 3339 time needs an offset, e.g. Z or +02:00")
    ms = (moment - EPOCH) // timedelta(milliseconds=1)  # integer arithmetic: no float rounding
    if ms < MIN_TS_MS:
        raise ValueError("event time before 2000-01-01")
    return ms


def validate_event(data: Any, now_ms: int, max_future_ms: int) -> tuple[InteractionEvent | None, str, str]:
    """The full validator, for a decoded JSON value: (the event, "", "") when valid, else (None,
    reason, error). The event's ``ts`` is then epoch milliseconds, whichever form it came in."""
    if not isinstance(data, dict):
        return None, "schema:event", f"an event must be a JSON object, not {type(data).__name__}"
    try:
        _validate_event(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        reason, error = _schema_reason(exc, data)
        return None, reason, error
    try:
        ts_ms = parse_ts(data["ts"])
    except (ValueError, OverflowError) as exc:
        return None, "schema:ts", f"ts {str(data['ts'])[:60]!r}: {exc}"
    if ts_ms > now_ms + max_future_ms:
        return None, "future_ts", f"ts is {(ts_ms - now_ms) / 1000:.0f} s ahead of the worker's clock"
    return event_from({**data, "ts": ts_ms}), "", ""


def decode_message(
    value: bytes | None, now_ms: int, *, max_message_bytes: int, max_batch_events: int, max_future_ms: int
) -> tuple[list[InteractionEvent], list[Rejection]]:
    """Split one Kafka message into valid events and rejections (per event for a batch).

    The common case is one pass of msgspec (decode and schema check), then each event's time. A
    message msgspec refuses goes through orjson and the full validator, which says what is wrong
    with each event (and admits what msgspec is stricter about)."""
    if not value:
        return [], [Rejection("malformed_json", "empty message", value or b"")]
    if len(value) > max_message_bytes:
        return [], [
            Rejection(
                "too_large",
                f"message of {len(value)} bytes is over the limit of "
                f"{max_message_bytes} (ENGAGEMENT_MAX_MESSAGE_BYTES)",
                value,
            )
        ]
    try:
        decoded = message_decoder.decode(value)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return _decode_slowly(value, now_ms, max_batch_events, max_future_ms)
    events = decoded if type(decoded) is list else [decoded]
    if len(events) > max_batch_events or not events or not _timely(events, now_ms + max_future_ms):
        return _decode_slowly(value, now_ms, max_batch_events, max_future_ms)
    return events, []


def decode_slice(
    values: list, now_ms: int, *, max_message_bytes: int, max_batch_events: int, max_future_ms: int
) -> list | None:
    """Each message's event (a struct, or a list of them for a batch) from ONE msgspec pass over a
    slice of messages, or None when some message needs a closer look (``decode_message``, one by one).
    The values are joined by newlines and decoded as JSON lines: when no value holds a newline (JSON
    strings cannot; only formatting could), line i is message i, and a count that differs tells."""
    if None in values:
        return None
    joined = b"\n".join(values)
    if joined.count(b"\n") != len(values) - 1 or max(map(len, values)) > max_message_bytes:
        return None
    try:
        decoded = message_decoder.decode_lines(joined)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if len(decoded) != len(values):  # an empty or blank message: no line of its own
        return None
    singles = []
    for item in decoded:
        if type(item) is list:
            if not item or len(item) > max_batch_events or not _timely(item, now_ms + max_future_ms):
                return None
        else:
            singles.append(item)
    return decoded if _timely(singles, now_ms + max_future_ms) else None


def _timely(events: list, latest_ms: int) -> bool:
    """Each event's ts made epoch ms (in place); False when one cannot be, or is after latest_ms."""
    for event in events:
        ts = event.ts
        if type(ts) is not int:
            try:
                ts = event.ts = parse_ts(ts)
            except (ValueError, OverflowError):
                return False
        if ts > latest_ms:
            return False
    return True


def _decode_slowly(
    value: bytes, now_ms: int, max_batch_events: int, max_future_ms: int
) -> tuple[list[InteractionEvent], list[Rejection]]:
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return [], [Rejection("malformed_json", str(exc), value)]
    if isinstance(data, list):
        if len(data) > max_batch_events:
            return [], [
                Rejection(
                    "too_large",
                    f"batch of {len(data)} events is over the limit of "
                    f"{max_batch_events} (ENGAGEMENT_MAX_BATCH_EVENTS)",
                    value,
                )
            ]
        if not data:
            return [], [Rejection("schema:event", "empty batch", value)]
        events, rejections = [], []
        for index, item in enumerate(data):
            event, reason, error = validate_event(item, now_ms, max_future_ms)
            if event is None:
                rejections.append(Rejection(reason, error, orjson.dumps(item), index))
            else:
                events.append(event)
        return events, rejections
    event, reason, error = validate_event(data, now_ms, max_future_ms)
    if event is None:
        return [], [Rejection(reason, error, value)]
    return [event], []


def validate_account(value: bytes | None) -> tuple[dict | None, Rejection | None]:
    """(account reference record, None), or (None, the rejection saying what is wrong)."""
    return _validate_reference(value, _validate_account)


def validate_post(value: bytes | None, published_since: int | None = None) -> tuple[dict | None, Rejection | None]:
    """(post reference record, None), or (None, the rejection saying what is wrong). With
    ``published_since`` (epoch ms), a record published before it is (None, None), not validated:
    past what the caller holds (the post book's lifetime)."""
    return _validate_reference(value, _validate_post, published_since)


def decode_post(value: bytes | None) -> PostRecord | None:
    """The post record's struct, decoded and validated in one pass; None for a tombstone and for what
    the struct refuses, which ``validate_post`` then rejects, or accepts (a field the contract does not
    name, an integral float published_at)."""
    if value is None:
        return None
    try:
        return post_decoder.decode(value)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def _validate_reference(
    value: bytes | None, validate: Callable[[Any], Any], published_since: int | None = None
) -> tuple[dict | None, Rejection | None]:
    try:
        data = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        return None, Rejection("malformed_json", str(exc), value or b"")
    if published_since is not None and isinstance(data, dict):
        published_at = data.get("published_at")
        if type(published_at) is int and published_at < published_since:
            return None, None
    try:
        validate(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        reason, error = _schema_reason(exc, data)
        return None, Rejection(reason, error, value)  # type: ignore[arg-type]  # it parsed: not None
    return data, None
