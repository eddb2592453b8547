"""What the snapshot topic holds of the sealed post lives: each group (``streams.state.sealed_lives``)
in records of its own, ``P/<start>/<j>``, written once in the first snapshot after it is sealed and
deleted (key tombstones) in the first one after it expires. A group's final segments and the young
lives change every interval and go into the snapshot's chunks instead (``F``, ``L``)."""

from __future__ import annotations

from .lives_format import encode_group
from .sealed_lives import SealedLives

LIVES_PREFIX = b"P/"


def lives_key(start: int, part: int) -> bytes:
    return LIVES_PREFIX + f"{start}/{part}".encode()


def parse_lives_key(key: bytes) -> tuple[int, int]:
    start, _, part = key[len(LIVES_PREFIX) :].partition(b"/")
    return int(start), int(part)


class SealedLivesRecords:
    """The keys of the groups the topic holds, by group start."""

    def __init__(self) -> None:
        self.written: dict[int, list[bytes]] = {}
        self.posts: dict[int, int] = {}  # group start -> its posts when written (a straggler appended: again)

    def records(self, sealed: SealedLives) -> list[tuple[bytes, bytes | None]]:
        """Delete the records of the groups gone; write those sealed since the last snapshot."""
        records: list[tuple[bytes, bytes | None]] = []
        for start in [s for s in self.written if s not in sealed.groups]:
            records += [(key, None) for key in self.written.pop(start)]
            self.posts.pop(start, None)
        for start, group in sealed.groups.items():
            if start not in self.written or self.posts.get(start) != len(group):
                parts = encode_group(sealed, group)
                keys = [lives_key(start, j) for j in range(len(parts))]
                records += [(key, None) for key in self.written.get(start, [])[len(parts) :]]
                self.written[start], self.posts[start] = keys, len(group)
                records += zip(keys, parts)
        return records
