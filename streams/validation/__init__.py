"""Validation of input against the contract in ``schemas/``: decoding, the schema fast path, and
the dead-letter record of every rejection."""

from .decode import decode_message, decode_post, decode_slice, parse_ts, validate_account, validate_event, validate_post
from .dlq import Rejection, dlq_record

__all__ = [
    "Rejection",
    "decode_message",
    "decode_post",
    "decode_slice",
    "dlq_record",
    "parse_ts",
    "validate_account",
    "validate_event",
    "validate_post",
]
