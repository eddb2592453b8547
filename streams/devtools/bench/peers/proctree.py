"""CPU seconds of a process tree from /proc: the process, its live descendants, and the children it
has already waited for (their time is in its cutime and cstime), so a peer that forks is counted whole."""

from __future__ import annotations

import os
from pathlib import Path

from ..harness import stat_fields


def cpu_ticks(stat: str) -> int:
    fields = stat_fields(stat)
    return sum(int(fields[i]) for i in (11, 12, 13, 14))


def descendants(parent_of: dict[int, int], root: int) -> set[int]:
    """Every pid below ``root`` in the {pid: parent pid} map."""
    children: dict[int, list[int]] = {}
    for pid, parent in parent_of.items():
        children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _read_stats() -> dict[int, str]:
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text()
            except OSError:  # it exited meanwhile
                continue
    return stats


def tree_cpu_seconds(pid: int) -> float | None:
    stats = _read_stats()
    if pid not in stats:
        return None
    tree = {pid} | descendants({p: int(stat_fields(s)[1]) for p, s in stats.items()}, pid)
    return sum(cpu_ticks(stats[p]) for p in tree) / os.sysconf("SC_CLK_TCK")
