"""The PromQL of the Grafana dashboards, ready to evaluate (plain module, imported by tests).

``dashboard_queries({"account": "acc-1"})`` returns every panel target's expression of every
dashboard in ``grafana/dashboards/`` with the Grafana variables replaced, so a test can run each
one against a live Prometheus.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DASHBOARD_DIR = REPO / "grafana" / "dashboards"

# Grafana's built-in interval variables, with values that fit a short test run.
DEFAULT_SUBSTITUTIONS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}

# $name, ${name}, ${name:format}, [[name]]
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]")


def load_dashboards(directory: Path = DASHBOARD_DIR) -> dict[Path, dict]:
    return {path: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def iter_panels(panels: list[dict]):
    """Every panel, including those nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def substitute(expr: str, substitutions: dict[str, str]) -> str:
    """Replace the variables of ``expr``; a variable without a value raises KeyError."""
    values = {**DEFAULT_SUBSTITUTIONS, **{k.lstrip("$").strip("{}"): str(v) for k, v in substitutions.items()}}

    def replace(match: re.Match) -> str:
        name = next(group for group in match.groups() if group)
        if name not in values:
            raise KeyError(f"no value for the variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def dashboard_queries(
    substitutions: dict[str, str] | None = None, directory: Path = DASHBOARD_DIR
) -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, expr) for every panel target, variables substituted.

    Keys of ``substitutions`` may be written ``account`` or ``$account``; the interval variables
    ($__rate_interval, $__interval, $__range) default to DEFAULT_SUBSTITUTIONS, and a text box variable
    (the posts dashboard's ``post``) to its default value, as Grafana first shows the dashboard.
    """
    out = []
    for dashboard in load_dashboards(directory).values():
        given = {k.lstrip("$").strip("{}"): v for k, v in (substitutions or {}).items()}
        values = {**default_values(dashboard), **given}
        for panel in iter_panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                expr = target.get("expr", "")
                if expr.strip():
                    out.append((dashboard["uid"], panel.get("title", ""), substitute(expr, values)))
    return out


def default_values(dashboard: dict) -> dict[str, str]:
    """The default value of each text box variable (name -> its ``query``)."""
    return {v["name"]: v["query"] for v in dashboard.get("templating", {}).get("list", []) if v["type"] == "textbox"}
