"""Names (accounts, platforms, content types, posts) held once and referred to by index from the
state's numpy columns: a column of small integers instead of a string reference per row."""

from __future__ import annotations

import numpy as np


class InternTable:
    """Names and their indices. Compaction makes a new table, so a list handed out stays valid."""

    __slots__ = ("names", "index")

    def __init__(self, names: list[str] | None = None):
        self.names: list[str] = names or []
        self.index = {name: i for i, name in enumerate(self.names)}

    def of(self, name: str) -> int:
        """The name's index, added if new."""
        j = self.index.get(name)
        if j is None:
            j = self.index[name] = len(self.names)
            self.names.append(name)
        return j

    def indexes(self, names) -> np.ndarray:
        index, table = self.index, self.names
        out = np.empty(len(names), np.int32)
        for i, name in enumerate(names):
            j = index.get(name)
            if j is None:
                j = index[name] = len(table)
                table.append(name)
            out[i] = j
        return out

    def compacted(self, used: np.ndarray) -> tuple[InternTable, np.ndarray]:
        """A table of the ``used`` indices' names (sorted ascending), and the map old index -> new."""
        remap = np.full(len(self.names), -1, np.int32)
        remap[used] = np.arange(len(used), dtype=np.int32)
        names = self.names
        return InternTable([names[i] for i in used.tolist()]), remap
