"""Schema Registry's wire format: producers using Confluent's JSON Schema serializer put a magic byte 0
and a 4-byte big-endian schema id before the JSON. The payload is the same JSON as an unframed
event, so it is read as one. JSON text never holds a raw NUL byte, so a leading 0 tells the two
apart, and a slice with no NUL byte anywhere (one C scan) has nothing to unframe.
"""

from __future__ import annotations

MAGIC = b"\x00"
HEADER_BYTES = 5  # the magic byte and the schema id


def unframe(values: list) -> tuple[list, int]:
    """The JSON payload of each message value (framed or not), and how many were framed. A value
    too short for the header is left as it is: decoding it rejects it (``framing_problem`` says why)."""
    present = values if None not in values else [value for value in values if value is not None]
    if MAGIC not in b"".join(present):
        return values, 0
    payloads, framed = [], 0
    for value in values:
        if value and value[:1] == MAGIC and len(value) >= HEADER_BYTES:
            payloads.append(value[HEADER_BYTES:])
            framed += 1
        else:
            payloads.append(value)
    return payloads, framed


def schema_id(value: bytes) -> int:
    """The schema id of a framed value."""
    return int.from_bytes(value[1:HEADER_BYTES], "big")


def framing_problem(value: bytes) -> str | None:
    """Why a message that is not JSON may not be: its framing, when it starts like one."""
    if value[:1] != MAGIC:
        return None
    if len(value) < HEADER_BYTES:
        return (
            f"starts with Schema Registry's magic byte 0 but has {len(value)} bytes, fewer than its "
            f"{HEADER_BYTES}-byte header"
        )
    return (
        f"Schema Registry framing (schema id {schema_id(value)}) around a payload that is not JSON: "
        "only the JSON Schema serializer's payloads are read (Avro and Protobuf are not)"
    )
