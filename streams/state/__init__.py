"""The engine's state, per input partition: windows, dedup memory, open mentions, and the journal
that rebuilds them after a restart or a rebalance."""

from .commit import Commit
from .partition import COUNTED, DUPLICATE, LATE, PartitionState
from .window import WindowConfig

__all__ = ["COUNTED", "DUPLICATE", "LATE", "Commit", "PartitionState", "WindowConfig"]
