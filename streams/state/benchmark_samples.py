"""The benchmark samples of each account, compact: its matured posts' ERs, kept for the benchmark period
after their publication (``lifetimes``), read at every close by the ER-per-post gauges, the own
baseline and the early-warning curves.

An account's samples read as rows ``[post_id, platform, content_type, published_at, er, early ERs]``
(without early ERs: a sample of an encoding before the curves, streams/model/early.py). They are held
as one numpy record array (publication, ER, early ERs, platform and content type as indexes into
shared tables, the end of the post id) and the post ids as one blob after their common prefix (ids of
one account share most of it); new samples wait in a short list until the next close seals them in.
``version`` moves whenever an account's samples change: the close's gauges read again only those.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np

from .intern import InternTable

_NO_EARLY = 255  # the ``early`` flag of a sample without early ERs
_SEALED: list[list] = []  # the tail of every account with none (never appended to: a list each costs 56 B)


class AccountSamples(Sequence):
    """One account's samples, in the order they came (a sequence of rows)."""

    __slots__ = ("tables", "dtype", "rows", "prefix", "ids", "tail", "version")

    def __init__(self, tables: InternTable, dtype: np.dtype):
        self.tables, self.dtype = tables, dtype
        self.rows = np.empty(0, dtype)
        self.prefix = ""  # of every sealed post id
        self.ids = b""  # the sealed post ids after the prefix, UTF-8, one after the other
        self.tail: list[list] = _SEALED  # samples since the last seal, as rows
        self.version = 0  # moves with every sample added or expired (a seal changes no sample)

    def append(self, sample: list) -> None:
        if self.tail is _SEALED:
            self.tail = []
        self.tail.append(sample)
        self.version += 1

    def __len__(self) -> int:
        return len(self.rows) + len(self.tail)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self.rows)
        if i < 0:
            i += len(self)
        if i >= n:
            return self.tail[i - n]
        return next(self._sealed(i, i + 1))

    def __iter__(self) -> Iterator[list]:
        yield from self._sealed(0, len(self.rows))
        yield from self.tail

    def __eq__(self, other) -> bool:
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))

    def _sealed(self, lo: int, hi: int) -> Iterator[list]:
        """The sealed samples ``lo``..``hi`` as rows, column by column (a row's fields read one by one
        from numpy cost 20 times as much)."""
        rows, names = self.rows[lo:hi], self.tables.names
        columns = zip(
            self._post_ids(lo, hi),
            [names[i] for i in rows["platform"].tolist()],
            [names[i] for i in rows["content_type"].tolist()],
            rows["published"].tolist(),
            rows["er"].tolist(),
            rows["early"].tolist(),
            rows["early_ers"].tolist(),
        )
        for post_id, platform, content_type, published, er, early, early_ers in columns:
            if early == _NO_EARLY:
                yield [post_id, platform, content_type, published, er]
            else:
                yield [post_id, platform, content_type, published, er, early_ers[:early]]

    def post_ids(self) -> list[str]:
        return self._post_ids(0, len(self.rows))

    def _post_ids(self, lo: int, hi: int) -> list[str]:
        ends = self.rows["id_end"][lo:hi].tolist()
        begin = int(self.rows["id_end"][lo - 1]) if lo else 0
        return [self.prefix + self.ids[b:e].decode() for b, e in zip([begin, *ends], ends)]

    def seal(self) -> None:
        """The tail into the arrays (their size exact: no growth slack)."""
        if self.tail:
            self._rebuild(list(self), len(self.rows) + len(self.tail))

    def expire(self, horizon: int) -> None:
        """Drop the samples published before ``horizon``."""
        published = self.rows["published"]
        if (len(published) and int(published.min()) < horizon) or any(s[3] < horizon for s in self.tail):
            kept = [s for s in self if s[3] >= horizon]
            self._rebuild(kept, len(kept))
            self.version += 1

    def _rebuild(self, samples: list[list], n: int) -> None:
        width = self.dtype["early_ers"].shape[0] if self.dtype["early_ers"].shape else 1
        rows = np.zeros(n, self.dtype)
        post_ids = [s[0] for s in samples]
        prefix = os.path.commonprefix(post_ids) if post_ids else ""
        encoded = [p[len(prefix) :].encode() for p in post_ids]
        rows["id_end"] = np.cumsum([len(e) for e in encoded], dtype=np.uint32) if encoded else 0
        rows["platform"] = [self.tables.of(s[1]) for s in samples]
        rows["content_type"] = [self.tables.of(s[2]) for s in samples]
        assert len(self.tables.names) <= 255, "the samples' table indexes are one byte"
        rows["published"] = [s[3] for s in samples]
        rows["er"] = [s[4] for s in samples]
        counts, early_ers = [], [[0.0] * width for _ in samples]
        for s, padded in zip(samples, early_ers):
            early = s[5] if len(s) > 5 else None
            if early is None or len(early) > width:  # none, or of another config (learn_curves skips it)
                counts.append(_NO_EARLY if early is None else 0)
            else:
                counts.append(len(early))
                padded[: len(early)] = early
        rows["early"] = counts
        rows["early_ers"] = np.array(early_ers, np.float64).reshape(n, width)
        self.rows, self.prefix, self.ids, self.tail = rows, prefix, b"".join(encoded), _SEALED

    @property
    def nbytes(self) -> int:
        return self.rows.nbytes + len(self.ids) + 250 * len(self.tail) + 400


def sample_dtype(early_ages: int) -> np.dtype:
    """A sample's record: publication (ms), ER, the early ERs (``early`` of them), table indexes, the
    post id's end in the blob."""
    return np.dtype(
        [
            ("published", "<i8"),
            ("er", "<f8"),
            ("early_ers", "<f8", (max(early_ages, 1),)),
            ("early", "u1"),
            ("platform", "u1"),
            ("content_type", "u1"),
            ("id_end", "<u4"),
        ],
        align=False,
    )


class BenchmarkSamples(dict):
    """account_id -> its samples (``AccountSamples``); ``early_ages``: the early ERs a sample holds."""

    def __init__(self, early_ages: int):
        super().__init__()
        self.tables = InternTable()
        self.dtype = sample_dtype(early_ages)

    def add(self, account_id: str, sample: list) -> None:
        samples = self.get(account_id)
        if samples is None:
            samples = self[account_id] = AccountSamples(self.tables, self.dtype)
        samples.append(sample)

    def seal(self) -> None:
        """Every account's new samples into its arrays."""
        for samples in self.values():
            samples.seal()

    def seal_and_expire(self, horizon: int) -> None:
        """At a close: drop the samples published before ``horizon``; seal the new ones."""
        for account_id in list(self):
            samples = self[account_id]
            samples.expire(horizon)
            if not len(samples):
                del self[account_id]
            else:
                samples.seal()

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.values())
