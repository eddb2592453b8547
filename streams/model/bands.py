"""Engagement-rate benchmarks per platform (and industry, and content type): DOMAIN.md's defaults,
overridable by a file. A band is an average ER per post (at maturity), so it is compared with an
account's ER per post, never with its hourly total.

The defaults are the Hootsuite November 2023 averages per post (seed 002), as ratios 0..1. The file
named by ENGAGEMENT_BENCHMARKS_FILE (YAML or JSON) overrides or adds rows:

    instagram:
      low: 0.02                                   # the platform's default row
      high: 0.04
      content_types:
        reel: {low: 0.03, high: 0.06}             # a content type on the platform
    facebook:
      industries:
        education:                                # an industry row
          low: 0.012
          high: 0.02
          content_types:
            video: {low: 0.015, high: 0.03}       # a content type in the industry

``band_for`` picks the row that applies (the most specific one given).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..contract import CONTENT_TYPES

# platform -> (low, high); DOMAIN.md's table divided by 100.
DEFAULT_BENCHMARKS: dict[str, tuple[float, float]] = {
    "tiktok": (0.0006, 0.0152),
    "facebook": (0.0083, 0.0165),
    "instagram": (0.0173, 0.0354),
    "x": (0.0104, 0.0148),
    "linkedin": (0.0121, 0.0240),
}

# (platform, industry or "", content type or "") -> (low, high)
Benchmarks = dict[tuple[str, str, str], tuple[float, float]]


def load_benchmarks(path: str | None) -> Benchmarks:
    table: Benchmarks = {(platform, "", ""): bounds for platform, bounds in DEFAULT_BENCHMARKS.items()}
    if not path:
        return table
    data = yaml.safe_load(Path(path).read_text())  # JSON is YAML too
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of platform -> bounds")
    for platform, row in data.items():
        if not isinstance(row, dict):
            raise ValueError(f"{path}: {platform}: expected a mapping")
        _rows(path, table, platform, "", row)
        for industry, industry_row in (row.get("industries") or {}).items():
            if not isinstance(industry_row, dict):
                raise ValueError(f"{path}: {platform}/{industry}: expected a mapping")
            _rows(path, table, platform, industry, industry_row)
    return table


def band_for(table: Benchmarks, platform: str, industry: str, content_type: str = "") -> tuple[float, float] | None:
    """The band for an account (``content_type`` ""): its industry's row, else its platform's. For one
    content type: the industry's row for it, else the platform's; None where the file gives none (a
    story is not compared with the platform's average post)."""
    for key in ((platform, industry, content_type), (platform, "", content_type)):
        if key in table:
            return table[key]
    return None


def _rows(path: str, table: Benchmarks, platform: str, industry: str, row: dict) -> None:
    """A platform's or an industry's row and its content types; a bound not given is the platform's."""
    where = f"{platform}/{industry}" if industry else platform
    fallback = table.get((platform, "", ""))
    if "low" in row or "high" in row:
        table[(platform, industry, "")] = _bounds(path, where, row, fallback)
    for content_type, bounds in (row.get("content_types") or {}).items():
        if content_type not in CONTENT_TYPES:
            raise ValueError(f"{path}: {where}: unknown content type {content_type!r} (one of {list(CONTENT_TYPES)})")
        table[(platform, industry, content_type)] = _bounds(
            path, f"{where}/{content_type}", bounds, table.get((platform, industry, "")) or fallback
        )


def _bounds(path: str, where: str, row: dict, fallback: tuple[float, float] | None) -> tuple[float, float]:
    low = row.get("low", fallback[0] if fallback else None)
    high = row.get("high", fallback[1] if fallback else None)
    if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and 0 <= low <= high <= 1):
        raise ValueError(f"{path}: {where}: need 0 <= low <= high <= 1 (ratios, not percent), got {row}")
    return float(low), float(high)
