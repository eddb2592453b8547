"""The post book's records (streams.kafka.posts) in about 45 bytes each beyond the post id string,
where a dict per record and a tuple per arrival took about 520.

One row per record received, in order of arrival: the post id (a list of the strings), and columns
(array.array): the arrival number (8 bytes), the partition of the record's account (2), published_at
(8), the account (an index into an ``InternTable``: 4), the platform and the content type (an index
into the contract's enums: 1 + 1). ``get`` makes the record's dict again from its row; a record that
has more fields than the contract's five, or a value the columns cannot hold exactly (a float
published_at, one past 64 bits), is kept as it came, by row (``whole``).

The index post id -> row of its latest record is a ``PostIndex`` (streams.kafka.post_index, ~12 bytes
a post). A re-sent record gets a row of its own (its arrival) and the index points to it; a tombstone
removes the index entry. ``add_posts`` adds a run of records in bulk, as many ``__setitem__`` would.

An arrival row stays as long as its post has a record that is kept (so a re-sent post is listed at
each of its arrivals, a removed one until the next prune), as the list of arrivals did before.
``prune`` drops the records published before a horizon and those rows, in numpy (a few ms at a
week's 232,000 records), and renumbers the rows.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, MutableMapping
from itertools import compress

import msgspec
import numpy as np

from ..contract import CONTENT_TYPES, POST_SCHEMA
from ..state.intern import InternTable
from .partitioner import partition_for
from .post_index import SEAL_AT, PostIndex

PLATFORMS: tuple[str, ...] = tuple(POST_SCHEMA["properties"]["platform"]["enum"])
_PLATFORM_INDEX = {name: i for i, name in enumerate(PLATFORMS)}
_CONTENT_INDEX = {name: i for i, name in enumerate(CONTENT_TYPES)}
_FIELDS = frozenset(("post_id", "account_id", "platform", "published_at", "content_type"))
WHOLE = 255  # in the platform column: the row's record is kept as it came (``whole``)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class PostRecords(MutableMapping):
    """post_id -> the post's latest validated record, and the order the records arrived in, each
    with its account's partition (``arrived``)."""

    def __init__(self, partitions: int, seal_at: int = SEAL_AT):
        self.partitions = partitions
        # The rows: one per record received, in order of arrival.
        self.ids: list[str] = []
        self.arrivals = array("q")  # arrival number (a cursor of ``arrived``)
        self.owners = array("H")  # the partition of the record's account
        self.published = array("q")  # published_at (a whole record's: floored, clamped to 64 bits)
        self.accounts = array("I")  # index in account_names
        self.platforms = array("B")  # index in PLATFORMS, or WHOLE
        self.contents = array("B")  # index in CONTENT_TYPES
        self.whole: dict[int, dict] = {}  # row -> record, of the rows whose record the columns cannot hold
        self.account_names = InternTable()
        self._account_ids = self.account_names.names  # by index (never compacted: accounts are few)
        self._account_partitions: list[int] = []  # by account index
        self.next_arrival = 0
        self.index = PostIndex(seal_at)  # post id -> row of its latest record

    # -- the mapping ----------------------------------------------------------------------------
    def get(self, post_id: str, default=None):  # the hot path: no KeyError
        row = self.index.row(post_id, self.ids)
        return default if row < 0 else self._record(row)

    def __getitem__(self, post_id: str) -> dict:
        record = self.get(post_id)
        if record is None:
            raise KeyError(post_id)
        return record

    def __contains__(self, post_id: object) -> bool:
        return isinstance(post_id, str) and self.index.row(post_id, self.ids) >= 0

    def __len__(self) -> int:
        return self.index.held

    def __iter__(self) -> Iterator[str]:
        yield from self.index.held_ids(self.ids)

    def __setitem__(self, post_id: str, record: dict) -> None:
        """Hold ``record`` as the latest of ``post_id`` (its ``post_id``), arrived now."""
        account = self._account(record["account_id"])
        row = len(self.ids)
        published = record["published_at"]
        platform = _PLATFORM_INDEX.get(record["platform"])
        content = _CONTENT_INDEX.get(record["content_type"], 0)
        if (
            platform is None
            or record["content_type"] not in _CONTENT_INDEX
            or type(published) is not int
            or not _INT64_MIN <= published <= _INT64_MAX
            or len(record) != len(_FIELDS)
            or record.keys() != _FIELDS
            or record["post_id"] != post_id
        ):
            self.whole[row] = record
            platform = WHOLE
            published = max(_INT64_MIN, min(_INT64_MAX, math.floor(published)))
        self.ids.append(post_id)
        self.arrivals.append(self.next_arrival)
        self.next_arrival += 1
        self.owners.append(self._account_partitions[account])
        self.published.append(published)
        self.accounts.append(account)
        self.platforms.append(platform)
        self.contents.append(content)
        old = self.index.put(post_id, row, self.ids)
        if old >= 0:
            self.whole.pop(old, None)  # the row stays an arrival; its record is no longer read

    def add_posts(self, posts: list) -> None:
        """``self[post.post_id] = post`` for each of ``posts`` in turn (post record structs, of the
        contract's five fields), in bulk: a column extended once, the index searched once."""
        published = [post.published_at for post in posts]
        if max(published) > _INT64_MAX:  # past the column: kept whole (the schema bounds it below)
            for post in posts:
                self[post.post_id] = msgspec.structs.asdict(post)
            return
        post_ids = [post.post_id for post in posts]
        accounts = [self._account(post.account_id) for post in posts]
        first, n = len(self.ids), len(posts)
        self.ids.extend(post_ids)
        self.arrivals.extend(range(self.next_arrival, self.next_arrival + n))
        self.next_arrival += n
        partitions = self._account_partitions
        self.owners.extend([partitions[account] for account in accounts])
        self.published.extend(published)
        self.accounts.extend(accounts)
        self.platforms.extend([_PLATFORM_INDEX[post.platform] for post in posts])
        self.contents.extend([_CONTENT_INDEX[post.content_type] for post in posts])
        replaced = self.index.put_run(post_ids, first, self.ids)
        if self.whole:
            for old in replaced:
                self.whole.pop(old, None)

    def __delitem__(self, post_id: str) -> None:
        row = self.index.remove(post_id, self.ids)
        if row < 0:
            raise KeyError(post_id)
        self.whole.pop(row, None)

    def pop(self, post_id: str, default=None):  # a tombstone: no dict made
        if post_id not in self:
            return default
        record = self[post_id]
        del self[post_id]
        return record

    # -- arrivals -------------------------------------------------------------------------------
    def arrived(self, partition: int, cursor: int) -> tuple[list[tuple[int | float, str]], int]:
        """(published_at, post id) of each record of ``partition``'s accounts that arrived from
        ``cursor`` on (the arrivals of posts still held), and the cursor to read on from. The
        publication is the record's (an arrival whose post was re-sent since has its own)."""
        n = len(self.ids)
        start = int(np.frombuffer(self.arrivals, np.int64).searchsorted(cursor)) if n else 0
        if start >= n:
            return [], self.next_arrival
        rows = (np.flatnonzero(np.frombuffer(self.owners, np.uint16)[start:] == partition) + start).tolist()
        published = np.frombuffer(self.published, np.int64)[rows].tolist()
        ids, whole = self.ids, self.whole
        for i in [i for i, row in enumerate(rows) if row in whole] if whole else ():
            published[i] = whole[rows[i]]["published_at"]
        return [(at, ids[row]) for at, row in zip(published, rows)], self.next_arrival

    # -- pruning --------------------------------------------------------------------------------
    def prune(self, horizon: int) -> int:
        """Drop the records published before ``horizon`` and the arrivals of posts with no record
        left; the rows dropped."""
        current = self.index.held_rows()
        n = len(self.ids)
        if not n:
            return 0
        keep = np.zeros(n, bool)
        keep[current] = np.frombuffer(self.published, np.int64)[current] >= horizon
        superseded = np.ones(n, bool)
        superseded[current] = False
        ids, index = self.ids, self.index
        for row in np.flatnonzero(superseded).tolist():  # re-sent or removed posts' earlier arrivals: few
            latest = index.row(ids[row], ids)
            keep[row] = latest >= 0 and keep[latest]
        if keep.all():
            return 0
        renumber = np.cumsum(keep, dtype=np.int64) - 1
        for name, dtype in (
            ("arrivals", np.int64),
            ("owners", np.uint16),
            ("published", np.int64),
            ("accounts", np.uint32),
            ("platforms", np.uint8),
            ("contents", np.uint8),
        ):
            column = getattr(self, name)
            kept = array(column.typecode)
            kept.frombytes(np.frombuffer(column, dtype)[keep].tobytes())
            setattr(self, name, kept)
        self.ids = list(compress(ids, keep.tolist()))
        self.index.keep(keep[current], renumber)
        self.whole = {int(renumber[row]): record for row, record in self.whole.items() if keep[row]}
        return n - len(self.ids)

    # -- rows ---------------------------------------------------------------------------------
    def _account(self, account_id: str) -> int:
        account = self.account_names.index.get(account_id)
        if account is None:
            account = self.account_names.of(account_id)
            self._account_partitions.append(partition_for(account_id, self.partitions))
        return account

    def _record(self, row: int) -> dict:
        platform = self.platforms[row]
        if platform == WHOLE:
            return self.whole[row]
        return {
            "post_id": self.ids[row],
            "account_id": self._account_ids[self.accounts[row]],
            "platform": PLATFORMS[platform],
            "published_at": self.published[row],
            "content_type": CONTENT_TYPES[self.contents[row]],
        }
