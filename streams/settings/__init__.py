"""The one settings object (``model``: every knob of the service, read from the environment) and
what each setting takes (``checks``); here, what is derived from the fields: the topic names of a test
or a benchmark run, and the README's settings table."""

from __future__ import annotations

import dataclasses

from .checks import DEFAULT_ENGAGED_TYPES, LOG_LEVELS, PREFIX, SettingsError, env_name, env_value
from .model import ENV_NAMES, Settings

__all__ = [
    "DEFAULT_ENGAGED_TYPES",
    "ENV_NAMES",
    "LOG_LEVELS",
    "PREFIX",
    "Settings",
    "SettingsError",
    "env_name",
    "markdown_table",
    "topics_named",
]


def topics_named(prefix: str, *, keep: tuple[str, ...] = ()) -> dict[str, str]:
    """Settings overrides that give every topic of the service a name under ``prefix`` (tests, the
    benchmarks: topics of their own), except the fields in ``keep``."""
    return {
        f.name: f"{prefix}.{f.name.removeprefix('topic_')}"
        for f in dataclasses.fields(Settings)
        if f.name.startswith("topic_") and f.type in (str, "str") and f.name not in keep
    }


def markdown_table() -> str:
    rows = ["| variable | default | allowed | meaning |", "| --- | --- | --- | --- |"]
    for f in dataclasses.fields(Settings):
        default = "" if f.metadata["secret"] else env_value(f.default)  # a secret's default is never shown
        allowed = f.metadata["check"].allowed if f.metadata["check"] else ""
        rows.append(f"| `{env_name(f.name)}` | `{default}` | {allowed} | {f.metadata['doc']} |")
    return "\n".join(rows)
