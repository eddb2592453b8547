"""What each setting takes, and reading a setting from its environment variable: the checks (a
field's ``check`` says which values it takes; a value outside it is a ``SettingsError`` whose one line
names the variable), the variables' names, their parsing, and the variables that are no setting."""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from ..contract import TYPES

PREFIX = "ENGAGEMENT_"
DEFAULT_ENGAGED_TYPES = ("like", "reaction", "comment", "share", "save", "click")
LOG_LEVELS = ("crit", "error", "warn", "info", "debug")  # what Faust's worker takes
LOG_FORMATS = ("text", "json")  # streams/logs.py


class SettingsError(ValueError):
    """A setting the service cannot start with; its message is one line that names the variable."""


@dataclass(frozen=True)
class Check:
    allowed: str  # the values it takes, as the error and the settings table say it
    allows: Callable[[Any], bool]


def _seconds(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


POSITIVE = Check("> 0", lambda v: v > 0)
NON_NEGATIVE = Check(">= 0", lambda v: v >= 0)
AT_LEAST_1 = Check(">= 1", lambda v: v >= 1)
PORT = Check("1..65535", lambda v: 1 <= v <= 65535)
NOT_EMPTY = Check("not empty", bool)
TOPIC = Check(
    "a Kafka topic name: 1 to 249 of a-z A-Z 0-9 . _ -",
    lambda v: bool(re.fullmatch(r"[A-Za-z0-9._-]{1,249}", v)) and v not in (".", ".."),
)
URL = Check("empty, or an http:// or https:// URL", lambda v: not v or v.startswith(("http://", "https://")))
LOG_LEVEL = Check(f"one of {', '.join(LOG_LEVELS)}", lambda v: v in LOG_LEVELS)
LOG_FORMAT = Check(f"one of {', '.join(LOG_FORMATS)}", lambda v: v in LOG_FORMATS)
RESOLVED_BY = Check("resolve or reply", lambda v: v in ("resolve", "reply"))
SECONDS_LIST = Check("numbers of seconds > 0", lambda v: all(_seconds(age) for age in v))
EVENT_TYPES = Check("one or more interaction types of the event schema", lambda v: bool(v) and set(v) <= set(TYPES))


def doc(text: str, secret: bool = False, check: Check | None = None, **kw):
    return field(metadata={"doc": text, "secret": secret, "check": check}, **kw)


def problems(settings) -> list[str]:
    """Each field whose value its check refuses, as ``VARIABLE='value': must be ...``."""
    return [
        f"{env_name(f.name)}={env_value(getattr(settings, f.name))!r}: must be {check.allowed}"
        for f in dataclasses.fields(settings)
        if (check := f.metadata["check"]) and not check.allows(getattr(settings, f.name))
    ]


def env_name(field_name: str) -> str:
    if field_name == "kafka_bootstrap_servers":
        return "KAFKA_BOOTSTRAP_SERVERS"
    return PREFIX + field_name.upper()


# What Kubernetes puts in a pod's environment for each Service of its namespace (the worker's own
# Service, engagement-worker, among them): ENGAGEMENT_WORKER_SERVICE_HOST, ..._PORT=tcp://..., and so on.
_SERVICE_LINK = re.compile(
    r"[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?"
    r"|PORT_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)"
)


def service_link(name: str, value: str) -> bool:
    if name.endswith("_PORT") and re.match(r"(tcp|udp|sctp)://", value):
        return True
    return bool(_SERVICE_LINK.fullmatch(name))


def not_a_setting(name: str, known: Collection[str]) -> str:
    # Compared without the prefix, which every name shares and which would make any two look alike.
    by_stem = {name.removeprefix(PREFIX): name for name in known}
    close = difflib.get_close_matches(name.removeprefix(PREFIX), by_stem, n=1)
    hint = f"did you mean {by_stem[close[0]]}?" if close else "`engagement settings` lists the settings"
    return f"{name} is not a setting ({hint})"


def env_value(value) -> str:
    return ",".join(value) if isinstance(value, tuple) else str(value)


def parse(f: dataclasses.Field, raw: str):
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise SettingsError(f"{env_name(f.name)}={raw!r}: {exc}") from None
    return raw
