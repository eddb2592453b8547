"""streams.state.compression: zstd frames from other writers read back (cramjam's, as the previous
release wrote them; a streamed one without its size in the header), ours readable by cramjam, and an
uncompressed value (an earlier release's) read as it is."""

from __future__ import annotations

import cramjam
import orjson
import pytest
import zstandard

from streams.state.compression import compressed, decompressed

VALUE = orjson.dumps([[f"post-{i}", None, 1_700_000_000_000 + i, [[0, [[1, 0, 2], 0.0, 0]]]] for i in range(300)])


def test_our_frames_are_zstd_frames():
    assert bytes(cramjam.zstd.decompress(compressed(VALUE))) == VALUE
    assert len(compressed(VALUE)) < len(VALUE) / 4


@pytest.mark.parametrize(
    "frame",
    [
        bytes(cramjam.zstd.compress(VALUE, level=3)),  # the previous release's
        zstandard.ZstdCompressor(write_content_size=False).compress(VALUE),  # no size in the header
    ],
    ids=["cramjam", "without-content-size"],
)
def test_frames_of_other_writers_are_read(frame):
    assert decompressed(frame) == VALUE


def test_an_uncompressed_value_is_read_as_it_is():
    assert decompressed(VALUE) == VALUE
