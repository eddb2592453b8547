"""The deployable stack: docker-compose, Prometheus rules and alerts, Alertmanager, Grafana (the
Kubernetes manifests: test_k8s.py; the compose specification and healthcheck: test_compose.py; a live
Prometheus and Alertmanager: tests/integration/test_live_prometheus.py).

The consistency checks are functions returning a list of problems, so the tests can also show
that a broken copy is caught. promtool / amtool / prometheus / alertmanager run for real when
installed (Debian: prometheus, prometheus-alertmanager) and are skipped, with the reason, when not.
"""

from __future__ import annotations

import copy
import glob
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures import promql
from tests.fixtures.paths import REPO
from tests.fixtures.prometheus import ALERTMANAGER, PROM_DIR, RULES, load_yaml, tool

COMPOSE = REPO / "docker-compose.yml"
PROM_CONFIGS = [PROM_DIR / "prometheus.yml", PROM_DIR / "prometheus.compose.yml"]
RULE_TESTS = sorted((PROM_DIR / "tests").glob("*.yml"))
GRAFANA = REPO / "grafana"

ALERTS = {
    "EngagementRateBelowBenchmark": "marketing",
    "EngagementDropVsBaseline": "marketing",
    "EngagementPostRateBelowOwnBaseline": "marketing",
    "EngagementMentionUnanswered": "marketing",
    "EngagementMentionSpike": "marketing",
    "EngagementNegativeSentimentSpike": "marketing",
    "PostOffTrack": "marketing",
    "EngagementIngestionStalled": "platform",
    "EngagementRejectRateHigh": "platform",
    "EngagementConsumerLagHigh": "platform",
    "EngagementInputUndecodable": "platform",
    "EngagementWorkerDown": "platform",
}
DASHBOARD_UIDS = {
    "overview.json": "engagement-overview",
    "account.json": "engagement-account",
    "pipeline.json": "engagement-pipeline",
    "listening.json": "engagement-listening",
    "posts.json": "engagement-posts",
}
# Series no longer recorded or exported (the band is per post, DOMAIN.md): no dashboard may read them.
REMOVED_SERIES = (
    "account:engagement_benchmark:ratio",
    "platform_industry:engagement_benchmark_ratio:max",
    "engagement_account_records_total",
)


def run(*argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120, **kw)


# ------------------------------------------------------------------------------------------------
# docker-compose consistency


def _split_hostport(address: str) -> tuple[str, int]:
    address = re.sub(r"^\w+://", "", address).split("/")[0]
    host, _, port = address.rpartition(":")
    return host, int(port)


def _bind_mounts(service: dict) -> list[tuple[str, str]]:
    """(host path, container path) of the service's bind mounts."""
    out = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                out.append((volume["source"], volume["target"]))
            continue
        parts = volume.split(":")
        if len(parts) >= 2 and parts[0].startswith((".", "/", "~")):
            out.append((parts[0], parts[1]))
    return out


def _named_volumes(service: dict) -> list[str]:
    out = []
    for volume in service.get("volumes", []):
        source = volume.get("source", "") if isinstance(volume, dict) else volume.split(":")[0]
        if source and not source.startswith((".", "/", "~")):
            out.append(source)
    return out


def _container_ports(service: dict) -> set[int]:
    """Ports a service listens on inside the compose network: `expose`, the container side of
    `ports`, and `--web.listen-address=:N` flags."""
    ports = {int(str(p).split("/")[0]) for p in service.get("expose", [])}
    for mapping in service.get("ports", []):
        target = mapping.get("target") if isinstance(mapping, dict) else str(mapping).split(":")[-1]
        ports.add(int(str(target).split("/")[0]))
    for arg in service.get("command", []) if isinstance(service.get("command"), list) else []:
        if match := re.match(r"--web\.listen-address=.*:(\d+)$", arg):
            ports.add(int(match.group(1)))
    return ports


def _flag(service: dict, name: str) -> str | None:
    for arg in service.get("command", []) or []:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


def _host_path(service: dict, container_path: str) -> Path | None:
    """The repo file behind a container path, through the service's bind mounts."""
    for host, target in _bind_mounts(service):
        target = target.rstrip("/")
        if container_path == target or container_path.startswith(target + "/"):
            return (REPO / host / os.path.relpath(container_path, target)).resolve()
    return None


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment", {}) or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def compose_problems(compose: dict) -> list[str]:
    problems = []
    services = compose.get("services", {})
    declared_volumes = set((compose.get("volumes") or {}).keys())

    for name, service in services.items():
        for host, _ in _bind_mounts(service):
            if not (REPO / host).exists():
                problems.append(f"{name}: bind-mounted path {host} does not exist")
        for volume in _named_volumes(service):
            if volume not in declared_volumes:
                problems.append(f"{name}: named volume {volume} is not declared")
        build = service.get("build")
        if build is not None:
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            if not (REPO / context / dockerfile).is_file():
                problems.append(f"{name}: no {dockerfile} in build context {context}")
        depends = service.get("depends_on", [])
        for dep in depends if isinstance(depends, list) else depends.keys():
            if dep not in services:
                problems.append(f"{name}: depends_on unknown service {dep}")

    def check_address(who: str, address: str):
        host, port = _split_hostport(address)
        if host not in services:
            problems.append(f"{who}: {address}: {host} is not a compose service")
        elif port not in _container_ports(services[host]):
            problems.append(
                f"{who}: {address}: {host} does not listen on {port} "
                f"(it exposes {sorted(_container_ports(services[host]))})"
            )
        return host, port

    # Workers and simulator reach Kafka on an advertised listener.
    kafka_advertised = _env(services.get("kafka", {})).get("KAFKA_ADVERTISED_LISTENERS", "")
    for name in ("worker", "simulator"):
        bootstrap = _env(services.get(name, {})).get("KAFKA_BOOTSTRAP_SERVERS", "")
        if not bootstrap:
            problems.append(f"{name}: KAFKA_BOOTSTRAP_SERVERS is not set")
            continue
        for address in bootstrap.split(","):
            check_address(f"{name} KAFKA_BOOTSTRAP_SERVERS", address)
            if f"://{address}" not in kafka_advertised:
                problems.append(f"{name}: {address} is not among kafka's advertised listeners")

    # Prometheus: its config file (through the mount), the targets and Alertmanager it names.
    prometheus = services.get("prometheus")
    if prometheus is None:
        return problems + ["no prometheus service"]
    config_path = _host_path(prometheus, _flag(prometheus, "config.file") or "/etc/prometheus/prometheus.yml")
    if config_path is None or not config_path.is_file():
        return problems + [f"prometheus: config file {config_path} is not mounted from the repo"]
    config = load_yaml(config_path)
    for pattern in config.get("rule_files", []):
        if not glob.glob(str(config_path.parent / pattern)):
            problems.append(f"prometheus: rule_files {pattern} matches no file")
    jobs = {job["job_name"]: job for job in config.get("scrape_configs", [])}
    if "engagement" not in jobs:
        problems.append("prometheus: no scrape job named engagement")
    worker_port = int(_env(services.get("worker", {})).get("ENGAGEMENT_WEB_PORT", "6066"))
    for job in jobs.values():
        for sd in job.get("static_configs", []):
            for target in sd.get("targets", []):
                host, port = check_address(f"prometheus job {job['job_name']}", target)
                if host == "worker" and port != worker_port:
                    problems.append(f"prometheus scrapes worker:{port}, the worker serves {worker_port}")
        for sd in job.get("dns_sd_configs", []):
            for dns_name in sd.get("names", []):
                check_address(f"prometheus job {job['job_name']} dns_sd", f"{dns_name}:{sd.get('port')}")
                if dns_name == "worker" and sd.get("port") != worker_port:
                    problems.append(f"prometheus scrapes worker:{sd.get('port')}, the worker serves {worker_port}")
        if job.get("file_sd_configs"):
            problems.append(f"prometheus job {job['job_name']}: file_sd targets cannot be checked in compose")
    alertmanagers = [
        t
        for am in config.get("alerting", {}).get("alertmanagers", [])
        for sd in am.get("static_configs", [])
        for t in sd.get("targets", [])
    ]
    if not alertmanagers:
        problems.append("prometheus: no Alertmanager configured")
    for target in alertmanagers:
        check_address("prometheus alerting", target)
    if "alertmanager" in services:
        am = services["alertmanager"]
        am_config = _host_path(am, _flag(am, "config.file") or "/etc/alertmanager/alertmanager.yml")
        if am_config is None or not am_config.is_file():
            problems.append(f"alertmanager: config file {am_config} is not mounted from the repo")

    # Grafana: data source URL, and the provisioning / dashboards mounts.
    grafana = services.get("grafana")
    if grafana is None:
        return problems + ["no grafana service"]
    provisioning = _host_path(grafana, "/etc/grafana/provisioning")
    if provisioning is None:
        return problems + ["grafana: /etc/grafana/provisioning is not mounted"]
    for datasource in load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]:
        check_address(f"grafana datasource {datasource['name']}", datasource["url"])
    for provider in load_yaml(provisioning / "dashboards" / "dashboards.yml")["providers"]:
        path = _host_path(grafana, provider["options"]["path"])
        if path is None or not list(path.glob("*.json")):
            problems.append(f"grafana: dashboards path {provider['options']['path']} holds no repo dashboard")
    return problems


def test_compose_is_consistent():
    assert compose_problems(load_yaml(COMPOSE)) == []


def test_compose_services_and_worker_settings():
    compose = load_yaml(COMPOSE)
    services = compose["services"]
    assert {"kafka", "worker", "simulator", "prometheus", "alertmanager", "grafana"} <= set(services)
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    worker = services["worker"]
    assert worker["deploy"]["replicas"] == 2
    assert not worker.get("ports"), "replicas cannot share a host port"
    env = _env(worker)
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["ENGAGEMENT_WEB_HOST"] == "0.0.0.0"
    assert env["ENGAGEMENT_WEB_PORT"] == "6066"
    assert "simulate" in services["simulator"]["command"]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert re.search(r'^CMD \["engagement", "worker"\]', dockerfile, re.M)


@pytest.mark.parametrize(
    "breakage",
    [
        "missing mount",
        "unknown dependency",
        "wrong scrape port",
        "wrong alertmanager port",
        "prometheus moved port",
        "bootstrap not advertised",
    ],
)
def test_compose_check_catches_breakage(breakage, tmp_path, monkeypatch):
    compose = copy.deepcopy(load_yaml(COMPOSE))
    services = compose["services"]
    if breakage == "missing mount":
        services["grafana"]["volumes"].append("./grafana/no-such-dir:/etc/whatever:ro")
    elif breakage == "unknown dependency":
        services["prometheus"]["depends_on"] = ["worker", "no-such-service"]
    elif breakage == "wrong scrape port":
        services["worker"]["environment"] = {**_env(services["worker"]), "ENGAGEMENT_WEB_PORT": "7077"}
        services["worker"]["expose"] = ["7077"]
    elif breakage == "wrong alertmanager port":
        services["alertmanager"]["ports"] = ["9999:9999"]
        services["alertmanager"]["command"] = [
            a for a in services["alertmanager"]["command"] if not a.startswith("--web.listen-address")
        ]
    elif breakage == "prometheus moved port":  # Grafana's data source URL still says 9090
        services["prometheus"]["ports"] = ["9091:9091"]
        services["prometheus"]["command"] = [a.replace(":9090", ":9091") for a in services["prometheus"]["command"]]
    elif breakage == "bootstrap not advertised":
        services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"] = "PLAINTEXT://broker:9092"
    assert compose_problems(compose), f"{breakage} was not detected"


# ------------------------------------------------------------------------------------------------
# Prometheus: config, rules, unit tests


@pytest.mark.parametrize("config", PROM_CONFIGS, ids=lambda p: p.name)
def test_promtool_check_config(config):
    result = run(tool("promtool"), "check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_rules():
    assert RULES
    result = run(tool("promtool"), "check", "rules", *RULES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules():
    assert RULE_TESTS
    result = run(tool("promtool"), "test", "rules", *RULE_TESTS, cwd=PROM_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout


def test_promtool_test_rules_can_fail(tmp_path):
    """A benchmark table raised above every account must break the expected alerts."""
    work = tmp_path / "prometheus"
    shutil.copytree(PROM_DIR, work)
    test = work / "tests" / "engagement-accounts.test.yml"
    test.write_text(test.read_text().replace("'0.0083x60'", "'0.0001x60'"))
    result = run(tool("promtool"), "test", "rules", test, cwd=work)
    assert result.returncode != 0


def _rules():
    return [rule for path in RULES for group in load_yaml(path)["groups"] for rule in group["rules"]]


def test_alerts_have_labels_and_annotations():
    alerts = {rule["alert"]: rule for rule in _rules() if "alert" in rule}
    assert set(alerts) == set(ALERTS)
    runbook = (REPO / "docs" / "runbooks.md").read_text().lower()
    for name, team in ALERTS.items():
        rule = alerts[name]
        assert rule["labels"]["team"] == team, name
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["labels"]["service"] == "engagement", name
        assert re.fullmatch(r"\d+[smhd]", rule["for"]), name
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook_url", "dashboard"} <= set(annotations), name
        # Absolute links: each starts with the external label that locates its site (ALERT_LINK_LABELS).
        doc, anchor = re.fullmatch(
            r"\{\{ \$externalLabels\.engagement_docs_url \}\}/([\w/.-]+)#(\S+)", annotations["runbook_url"]
        ).groups()
        assert (REPO / doc).is_file() and anchor == name.lower() and f"## {name.lower()}" in runbook, name
        uid = re.fullmatch(
            r"\{\{ \$externalLabels\.grafana_url \}\}/d/([\w-]+)(/[\w-]+)?(\?.*)?", annotations["dashboard"]
        ).group(1)
        assert uid in DASHBOARD_UIDS.values(), name


ALERT_LINK_LABELS = ("grafana_url", "engagement_docs_url")


@pytest.mark.parametrize("config", PROM_CONFIGS, ids=lambda p: p.name)
def test_prometheus_sets_the_alert_links_and_keeps_them_out_of_the_alert_labels(config):
    """The rules read the sites of the alerts' links from the external labels (rules cannot read the
    environment); Alertmanager gets the links in the annotations, not as labels of every alert."""
    config = load_yaml(config)
    links = config["global"]["external_labels"]
    assert sorted(links) == sorted(ALERT_LINK_LABELS)
    assert all(re.fullmatch(r"https?://[^/\s]+(/\S*)?", url) and not url.endswith("/") for url in links.values()), links
    assert [(r["action"], r["regex"]) for r in config["alerting"]["alert_relabel_configs"]] == [
        ("labeldrop", "|".join(ALERT_LINK_LABELS))
    ]


def test_tunable_durations_are_marked():
    """The fast end-to-end run rewrites the lines marked `# tunable`; every `for:` is one."""
    for path in RULES:
        for line in path.read_text().splitlines():
            if re.match(r"\s*for:", line):
                assert "# tunable" in line, f"{path.name}: {line}"
            for duration in re.findall(r"\[(\d+[smhdw])\]", line.split("#")[0]):
                assert "# tunable" in line, f"{path.name}: range [{duration}] not marked: {line}"


# ------------------------------------------------------------------------------------------------
# Alertmanager


def test_amtool_check_config():
    result = run(tool("amtool"), "check-config", ALERTMANAGER)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "labels, receiver",
    [
        ({"alertname": "EngagementRateBelowBenchmark", "team": "marketing", "account_id": "a"}, "marketing-oncall"),
        ({"alertname": "EngagementDropVsBaseline", "team": "marketing", "account_id": "a"}, "marketing-oncall"),
        (
            {"alertname": "EngagementMentionUnanswered", "team": "marketing", "account_id": "a", "sla": "acknowledge"},
            "community-team",
        ),
        (
            {"alertname": "EngagementMentionUnanswered", "team": "marketing", "account_id": "a", "sla": "resolve"},
            "marketing-oncall",
        ),
        ({"alertname": "EngagementMentionSpike", "team": "marketing", "account_id": "a"}, "marketing-oncall"),
        ({"alertname": "EngagementWorkerDown", "team": "platform"}, "platform-oncall"),
        ({"alertname": "Unrouted"}, "platform-oncall"),
    ],
)
def test_alertmanager_routes(labels, receiver):
    result = run(
        tool("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER}",
        *(f"{k}={v}" for k, v in labels.items()),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [receiver]


def test_alertmanager_marketing_grouped_by_account():
    route = load_yaml(ALERTMANAGER)["route"]
    marketing = next(r for r in route["routes"] if 'team="marketing"' in r.get("matchers", []))
    assert {"alertname", "account_id"} <= set(marketing["group_by"])


# ------------------------------------------------------------------------------------------------
# Grafana

RATIO_METRIC = re.compile(
    r"engagement_(account_post_|post_)?(rate|benchmark)_ratio|engagement_sentiment_negative_ratio"
    r"|account:engagement_\w+:(ratio|baseline)"
)


def _dashboards():
    return {path.name: data for path, data in promql.load_dashboards().items()}


def test_grafana_provisioning():
    datasources = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert [d["type"] for d in datasources] == ["prometheus"]
    assert datasources[0]["url"] == "http://prometheus:9090"
    providers = load_yaml(GRAFANA / "provisioning" / "dashboards" / "dashboards.yml")["providers"]
    assert providers[0]["type"] == "file"
    assert providers[0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboards_load_with_stable_unique_uids():
    dashboards = _dashboards()
    assert {name: d["uid"] for name, d in dashboards.items()} == DASHBOARD_UIDS
    uids = [d["uid"] for d in dashboards.values()]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("name", sorted(DASHBOARD_UIDS))
def test_dashboard_panels(name):
    dashboard = _dashboards()[name]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    if name == "account.json":
        assert variables["account"]["type"] == "query"
        assert "label_values(engagement_rate_ratio, account_id)" in json.dumps(variables["account"]["query"])
    if name == "posts.json":
        assert variables["account"]["type"] == "query"
        assert "label_values(engagement_account_post_rate_ratio, account_id)" in json.dumps(
            variables["account"]["query"]
        )
        # Any post, not only those a query lists (the exported ones): a text box, every exported post
        # (a regex matcher) by default.
        assert variables["post"]["type"] == "textbox" and variables["post"]["query"] == ".+"
        assert variables["post"]["current"]["value"] == ".+"
        # A post that Prometheus does not hold: the drill-down says so and where its figures are.
        er = next(p for p in promql.iter_panels(dashboard["panels"]) if p["title"] == "ER of $post at maturity")
        assert er["fieldConfig"]["defaults"]["noValue"] == "not an exported post: see GET /posts/{post_id}/metrics"
    panels = list(promql.iter_panels(dashboard["panels"]))
    assert panels
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        if panel["type"] == "row":
            continue
        title = panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", title
        assert panel["targets"], f"{title}: no targets"
        exprs = []
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), f"{title}: empty expr"
            assert target.get("datasource", panel["datasource"])["uid"] == "${datasource}", title
            exprs.append(target["expr"])
        unit = panel["fieldConfig"]["defaults"].get("unit")
        assert unit, f"{title}: no unit"
        if all(RATIO_METRIC.search(e) for e in exprs) and not any(e.lstrip().startswith("count") for e in exprs):
            assert unit == "percentunit", f"{title}: a ratio panel must use percentunit, not {unit}"
        if all("histogram_quantile" in e and "_seconds_bucket" in e for e in exprs) or "seconds_bucket" in "".join(
            exprs
        ):
            assert unit == "s", f"{title}: seconds panel with unit {unit}"
        if all(re.search(r"\brate\(", e) for e in exprs) and not any(
            "/" in e or "histogram_quantile" in e for e in exprs
        ):
            assert unit in ("ops", "reqps", "cps", "wps", "rps"), f"{title}: rate panel with unit {unit}"
        if panel["type"] == "heatmap":
            assert all(t.get("format") == "heatmap" for t in panel["targets"]), title


def test_dashboard_queries_substitute_every_variable():
    queries = promql.dashboard_queries({"account": "acc-1"})
    assert len(queries) >= 30
    for uid, title, expr in queries:
        assert "$" not in expr and "[[" not in expr, f"{uid}/{title}: {expr}"
    assert any('account_id="acc-1"' in expr for _, _, expr in queries)
    # The post variable: its default (every exported post) unless a post is given.
    assert any('post_id=~".+"' in expr for _, _, expr in queries)
    one_post = promql.dashboard_queries({"account": "acc-1", "post": "p-1"})
    assert any('post_id=~"p-1"' in expr for _, _, expr in one_post)
    assert not any('post_id=~".+"' in expr for _, _, expr in one_post)
    with pytest.raises(KeyError):
        promql.substitute('x{a="$nope"}', {})


def test_dashboards_show_the_required_content():
    exprs = {
        uid: " ".join(e for u, _, e in promql.dashboard_queries({"account": "a"}) if u == uid)
        for uid in DASHBOARD_UIDS.values()
    }
    overview = exprs["engagement-overview"]
    for needle in (
        "engagement_rate_ratio",
        "engagement_benchmark_ratio",
        "engagement_interactions_total",
        "topk(",
        "bottomk(",
        "engagement_dwell_seconds_bucket",
        "engagement_sentiment_score",
        "engagement_mentions_unanswered",
        'ALERTS{alertstate="firing"}',
        'account:engagement_rate_per_post:ratio{content_type="all"}',
        'content_type=""',
    ):
        assert needle in overview, needle
    account = exprs["engagement-account"]
    for needle in (
        "account:engagement_rate_per_post:ratio",
        "account:engagement_post_benchmark:ratio",
        "account:engagement_matured_posts:max",
        "account:engagement_rate_followers:baseline",
        "engagement:config:baseline_drop_fraction",
        "engagement_rate_ratio",
    ):
        assert needle in account, needle
    posts = exprs["engagement-posts"]
    for needle in (
        'account:engagement_rate_per_post:ratio{content_type="all"}',
        "by (platform, content_type)",
        "account:engagement_post_benchmark:ratio",
        "account:engagement_matured_posts:max",
        "engagement:config:benchmark_min_posts",
        'engagement_benchmark_ratio{bound="low", industry="", content_type=""}',
        'engagement_post_rate_ratio{rank="top"}',
        'engagement_post_rate_ratio{rank="bottom"}',
        "engagement_post_rate_ratio{post_id=~",
        'ALERTS{alertname="EngagementRateBelowBenchmark"',
        'account_id="a"',
        "engagement_posts_tracked",
        "engagement_post_state_memory_bytes",
        "engagement_post_lifetime_records_total",
        "engagement_account_post_series_dropped",
    ):
        assert needle in posts, needle
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    for uid, text in exprs.items():
        for removed in REMOVED_SERIES:
            assert removed not in text, f"{uid} reads {removed}, which is no longer recorded or exported"
        for name in set(re.findall(r"\b[a-z_]+:[a-z_]+:[a-z_]+\b", text)):
            assert name in recorded, f"{uid} reads {name}, which no recording rule records"
    # The hourly rolling ER is never drawn against a band: no panel reads both.
    by_panel: dict[tuple[str, str], str] = {}
    for uid, title, expr in promql.dashboard_queries({"account": "a"}):
        by_panel[uid, title] = by_panel.get((uid, title), "") + " " + expr
        # The benchmark table has a content_type label (a platform or industry row: content_type=""):
        # a query selects it or keeps it, never mixes the content-type rows into a platform's band.
        if "engagement_benchmark_ratio" in expr:
            assert "content_type" in expr, f"{uid} / {title}: {expr}"
    for (uid, title), text in by_panel.items():
        assert not ("engagement_rate_ratio" in text and "benchmark" in text), f"{uid} / {title}"
    # The drill-down tells where the live lifetime view of a post is: the worker API.
    post_panels = [
        p
        for p in promql.iter_panels(_dashboards()["posts.json"]["panels"])
        if "post_id=~" in json.dumps(p.get("targets", []))
    ]
    assert post_panels and all("/posts/{post_id}/metrics" in p["description"] for p in post_panels)
    pipeline = exprs["engagement-pipeline"]
    for needle in (
        "engagement_events_consumed_total",
        "engagement_consumer_lag_messages",
        "engagement_events_rejected_total",
        "engagement_events_duplicate_total",
        "engagement_events_late_total",
        "engagement_event_lag_seconds_bucket",
        "engagement_input_framed_messages_total",
        "engagement_input_undecodable_records_total",
    ):
        assert needle in pipeline, needle
    assert 'account_id="a"' in exprs["engagement-account"]
    listening = exprs["engagement-listening"]
    for needle in (
        "engagement_mention_response_seconds_bucket",
        "engagement_account_mentions_answered_within_sla_total",
        "engagement_mentions_unanswered_oldest_timestamp_seconds",
        "account:engagement_mentions:rate_baseline",
        "account:engagement_sentiment_negative:ratio_baseline",
        'sla="acknowledge"',
        "ALERTS{",
    ):
        assert needle in listening, needle
