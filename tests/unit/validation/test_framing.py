"""What real producers send, without a broker: Schema Registry framing, and record batches that cannot
be decoded (a codec missing, a payload corrupt) turned into one DLQ record instead of a dead worker.
The broker tests with Kafka's own console producer are in test_real_producers.py."""

from __future__ import annotations

from hypothesis import given, strategies as st

from streams.validation.framing import unframe
from tests.fixtures.producers import event, framed


# -- Schema Registry framing ---------------------------------------------------------------------
def test_unframed_values_come_back_as_they_are():
    values = [event(1), event(2), None]
    assert unframe(values) == (values, 0)


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 2**32 - 1)), min_size=1, max_size=30))
def test_each_framed_value_loses_exactly_its_five_byte_header(choices):
    payloads = [event(i) for i in range(len(choices))]
    values = [framed(p, sid) if is_framed else p for p, (is_framed, sid) in zip(payloads, choices)]
    assert unframe(values) == (payloads, sum(is_framed for is_framed, _ in choices))
