"""Prometheus and Alertmanager (Debian's packages) run with the project's config in deploy/.

`make run` and the end-to-end tests start them here: the config is copied into a run directory with
the real worker addresses and ports filled in; the rules and alert routes are the project's own.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml

from .broker import free_port, port_is_free
from .paths import REPO
from .processes import spawn, wait_http

PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")


def fast_rules(
    text: str,
    for_duration: str | None = "0s",
    baseline_range: str = "10m",
    rate_range: str = "30s",
    spike_range: str = "30s",
    spike_baseline_range: str = "2m",
    spike_baseline_offset: str | None = None,
    spike_history: str = "150s",
) -> str:
    """The rules with every `# tunable` duration shortened, for runs that must alert within minutes
    (window lengths are settings, and no rule depends on them). The spike baseline
    ends where the spike window begins (``spike_baseline_offset``, by default the spike range), and
    needs ``spike_history`` (baseline range + offset) of the account's counter. ``for_duration`` None
    leaves the holds as they are."""
    if for_duration is not None:
        text = re.sub(r"for: \d+[smhd]", f"for: {for_duration}", text)
    text = text.replace("[7d]", f"[{baseline_range}]").replace("[5m]", f"[{rate_range}]")
    text = text.replace("offset 13h", f"offset {spike_history}")
    text = text.replace("[12h] offset 1h", f"[{spike_baseline_range}] offset {spike_baseline_offset or spike_range}")
    text = text.replace("[1h]", f"[{spike_range}]")
    return text


def write_prometheus_config(
    work: Path, targets: list[str], alertmanager: str | None, interval: str = "15s", rules_transform=None
) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    (work / "rules").mkdir(exist_ok=True)
    for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml")):
        text = path.read_text()
        (work / "rules" / path.name).write_text(rules_transform(text) if rules_transform else text)
    (work / "targets").mkdir(exist_ok=True)
    (work / "targets" / "engagement.json").write_text(json.dumps([{"targets": targets, "labels": {}}]))
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}] if alertmanager else []}
    path = work / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def write_alertmanager_config(
    work: Path, webhook_base: str | None = None, group_wait: str | None = None, repeat_interval: str | None = None
) -> Path:
    """The project's Alertmanager config; webhook_base (host:port) replaces the receivers' address.
    group_wait (also the group interval) and repeat_interval, when given, apply to every route."""
    text = ALERTMANAGER_CONFIG.read_text()
    if webhook_base:
        text = text.replace("127.0.0.1:9095", webhook_base)
    config = yaml.safe_load(text)
    timings = {
        **({"group_wait": group_wait, "group_interval": group_wait} if group_wait else {}),
        **({"repeat_interval": repeat_interval} if repeat_interval else {}),
    }
    routes = [config["route"]]
    while routes:
        route = routes.pop()
        route.update(timings)
        routes.extend(route.get("routes", []))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def alertmanager_binary() -> str | None:
    return next((b for b in map(shutil.which, ALERTMANAGER_BINARIES) if b), None)


def start_alertmanager(config: Path, work: Path, log: Path, port: int | None = None):
    port = port or (9093 if port_is_free(9093) else free_port())
    proc = spawn(
        [
            alertmanager_binary(),  # type: ignore[list-item]  # None: spawn fails
            f"--config.file={config}",
            f"--storage.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        {},
        log,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/-/ready", timeout=60, proc=proc)
    return proc, url


def start_prometheus(config: Path, work: Path, log: Path, port: int | None = None):
    port = port or (9090 if port_is_free(9090) else free_port())
    proc = spawn(
        [
            shutil.which("prometheus"),  # type: ignore[list-item]  # None: spawn fails
            f"--config.file={config}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        {},
        log,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/-/ready", timeout=60, proc=proc)
    return proc, url


def start_prometheus_stack(
    targets: list[str], run_dir: Path, logs: Path, children: list, interval: str = "15s", rules_transform=None
) -> dict[str, str]:
    """For `make run`: Alertmanager (when installed), then Prometheus scraping the workers."""
    urls = {}
    alertmanager = None
    if alertmanager_binary():
        am_work = run_dir / "alertmanager"
        proc, url = start_alertmanager(write_alertmanager_config(am_work), am_work, logs / "alertmanager.log")
        children.append(("alertmanager", proc))
        urls["alertmanager"] = url
        alertmanager = url.removeprefix("http://")
    prom_work = run_dir / "prometheus"
    proc, url = start_prometheus(
        write_prometheus_config(prom_work, targets, alertmanager, interval, rules_transform),
        prom_work,
        logs / "prometheus.log",
    )
    children.append(("prometheus", proc))
    urls["prometheus"] = url
    return urls
