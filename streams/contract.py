"""The contract in ``schemas/``, loaded once: the interaction types, platforms and post-level types
come from the event schema, so no module keeps a second copy of a field list."""

from __future__ import annotations

import json
from pathlib import Path

# In a checkout streams/schemas links to the top-level schemas/ (the one copy); the wheel carries them.
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


def load_schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / name).read_text())


EVENT_SCHEMA = load_schema("interaction-event.schema.json")
ACCOUNT_SCHEMA = load_schema("account.schema.json")
POST_SCHEMA = load_schema("post.schema.json")

TYPES: tuple[str, ...] = tuple(EVENT_SCHEMA["properties"]["type"]["enum"])
PLATFORMS: tuple[str, ...] = tuple(EVENT_SCHEMA["properties"]["platform"]["enum"])
TYPE_INDEX: dict[str, int] = {name: i for i, name in enumerate(TYPES)}
POST_LEVEL_TYPES: frozenset[str] = frozenset(
    next(
        rule["if"]["properties"]["type"]["enum"]
        for rule in EVENT_SCHEMA["allOf"]
        if rule["then"] == {"required": ["post_id"]}
    )
)
# What a post can be; UNKNOWN_CONTENT_TYPE: a post whose events came without its record.
CONTENT_TYPES: tuple[str, ...] = tuple(POST_SCHEMA["properties"]["content_type"]["enum"])
UNKNOWN_CONTENT_TYPE = "unknown"
# account_id and post_id: the longest id the contract admits (the HTTP API refuses longer ones).
MAX_ID_LENGTH: int = EVENT_SCHEMA["properties"]["account_id"]["maxLength"]
