"""Engagement-rate benchmarks per platform (and industry): DOMAIN.md's defaults, overridable by a file.

The defaults are the Hootsuite November 2023 averages per post (seed 002), as ratios 0..1. The file
named by ENGAGEMENT_BENCHMARKS_FILE (YAML or JSON) overrides or adds rows:

    instagram: {low: 0.02, high: 0.04}            # the platform's default row
    facebook:
      industries:
        education: {low: 0.012, high: 0.02}       # an industry row
"""

from __future__ import annotations

from pathlib import Path

import yaml

# platform -> (low, high); DOMAIN.md's table divided by 100.
DEFAULT_BENCHMARKS: dict[str, tuple[float, float]] = {
    "tiktok": (0.0006, 0.0152),
    "facebook": (0.0083, 0.0165),
    "instagram": (0.0173, 0.0354),
    "x": (0.0104, 0.0148),
    "linkedin": (0.0121, 0.0240),
}

Benchmarks = dict[tuple[str, str], tuple[float, float]]  # (platform, industry or "") -> (low, high)


def load_benchmarks(path: str | None) -> Benchmarks:
    table: Benchmarks = {(platform, ""): bounds for platform, bounds in DEFAULT_BENCHMARKS.items()}
    if not path:
        return table
    data = yaml.safe_load(Path(path).read_text())  # JSON is YAML too
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of platform -> bounds")
    for platform, row in data.items():
        if not isinstance(row, dict):
            raise ValueError(f"{path}: {platform}: expected a mapping")
        if "low" in row or "high" in row:
            table[(platform, "")] = _bounds(path, platform, row, table.get((platform, "")))
        for industry, bounds in (row.get("industries") or {}).items():
            table[(platform, industry)] = _bounds(path, f"{platform}/{industry}", bounds,
                                                  table.get((platform, "")))
    return table


def _bounds(path: str, where: str, row: dict, fallback: tuple[float, float] | None) -> tuple[float, float]:
    low = row.get("low", fallback[0] if fallback else None)
    high = row.get("high", fallback[1] if fallback else None)
    if not all(isinstance(v, (int, float)) for v in (low, high)) or not 0 <= low <= high <= 1:
        raise ValueError(f"{path}: {where}: need 0 <= low <= high <= 1 (ratios, not percent), got {row}")
    return float(low), float(high)
