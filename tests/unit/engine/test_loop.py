"""streams.engine.loop.slices: a fetched batch in runs of about YIELD_EVERY_BYTES, between which the
event loop runs heartbeats and the web server. Against a message-by-message reference."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from streams.engine.loop import slices
from tests.fixtures.fetched import Message, fetched


def reference(messages: list, max_bytes: int) -> list[list]:
    runs, run, size = [], [], 0
    for message in messages:
        run.append(message)
        size += len(message.value or b"")
        if size >= max_bytes:
            runs.append(run)
            run, size = [], 0
    return runs + ([run] if run else [])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.none(), st.binary(max_size=60)), max_size=40), st.integers(1, 300))
def test_runs_are_those_of_the_reference(values, max_bytes):
    messages = [Message(i, 1_000 + i, b"k", v) for i, v in enumerate(values)]
    runs = slices(fetched(messages), max_bytes)
    assert runs == [fetched(run) for run in reference(messages, max_bytes)]
    assert [row for run in runs for row in run.rows()] == fetched(messages).rows()
