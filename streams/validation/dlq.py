"""What a rejected input becomes: a ``Rejection`` (reason code, error, the original bytes) and its
dead-letter record (``schemas/dlq.schema.json``), so that nothing is lost silently."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

from .. import json_bytes


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    error: str
    original: bytes
    batch_index: int | None = None


def dlq_record(
    rejection: Rejection, topic: str, partition: int, offset: int, timestamp: int | None, max_original_bytes: int
) -> bytes:
    """The dead-letter record of one rejection (schemas/dlq.schema.json)."""
    original = rejection.original
    return json_bytes.dumps(
        {
            "reason": rejection.reason,
            "error": rejection.error[:2000],
            "source": {
                "topic": topic,
                "partition": partition,
                "offset": offset,
                "timestamp": timestamp,
                "batch_index": rejection.batch_index,
            },
            "original_b64": base64.b64encode(original[:max_original_bytes]).decode(),
            "original_truncated": len(original) > max_original_bytes,
            "rejected_at": time.time_ns() // 1_000_000,
        }
    )
