"""The Kubernetes manifests of deploy/k8s, checked as rendered (no cluster here).

- Rendering: kustomization.yaml lists plain resources only; ``render()`` reads them as kustomize does
  (and refuses any kustomize feature it does not implement), and where `kubectl` is installed its
  `kubectl kustomize` output must be the same objects.
- Schemas: every built-in kind passes the Kubernetes OpenAPI schema of kubernetes-validate (bundled,
  offline) in strict mode (unknown fields are errors) for the current Kubernetes versions. The
  ServiceMonitor and PrometheusRule are custom resources, whose CRD schemas no Python package ships:
  their structure is checked against the subset of the Prometheus Operator's CRD schema written out
  below (unknown fields are errors there too).
- One source of truth: the PrometheusRule's groups are those of deploy/prometheus/rules/*.yml and the
  dashboard ConfigMaps hold grafana/dashboards/*.json, both read here at test time; deploy/k8s/generate.py
  writes them and must have nothing to change.
- The pod: each rule of the Pod Security Standards' "restricted" profile, the probes, the stable
  identity (the instance and transactional ids from the pod's name), the one scrape path and its job label.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

from streams.kafka.membership import instance_id
from streams.settings import ENV_NAMES, Settings
from tests.fixtures.paths import REPO

K8S = REPO / "deploy" / "k8s"
RULES = REPO / "deploy" / "prometheus" / "rules"
DASHBOARDS = REPO / "grafana" / "dashboards"
# The three newest minor releases the validator bundles (it bundles 1.25 to 1.37).
KUBERNETES_VERSIONS = ("1.35.0", "1.36.0", "1.37.0")
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}
EXPECTED = {
    ("ConfigMap", "engagement-worker"),
    ("Service", "engagement-worker"),
    ("StatefulSet", "engagement-worker"),
    ("PodDisruptionBudget", "engagement-worker"),
    ("ServiceMonitor", "engagement-worker"),
    ("PrometheusRule", "engagement"),
    *{("ConfigMap", f"engagement-dashboard-{path.stem}") for path in DASHBOARDS.glob("*.json")},
}


# ------------------------------------------------------------------------------------------------
# Rendering


def render(directory: Path = K8S) -> list[dict]:
    """The objects `kubectl apply -k directory` would apply, for a kustomization of plain resources."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - {"apiVersion", "kind", "resources"}
    assert not unsupported, f"render() does not implement kustomize's {sorted(unsupported)}: extend it"
    objects = []
    for resource in kustomization["resources"]:
        path = (directory / resource).resolve()
        assert path.is_file() and path.parent == directory.resolve(), f"{resource}: not a file of {directory}"
        objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None)
    return objects


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    return render()


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


def key(obj: dict) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def test_kustomization_renders_every_manifest(rendered):
    assert sorted(map(key, rendered)) == sorted(EXPECTED)
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def test_render_is_what_kubectl_kustomize_renders(rendered):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: render() alone read deploy/k8s/kustomization.yaml")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    by_key = {key(o): o for o in yaml.safe_load_all(result.stdout)}
    assert by_key == {key(o): o for o in rendered}


# ------------------------------------------------------------------------------------------------
# Schemas


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_pass_the_kubernetes_schema_strictly(rendered, version):
    unchecked = []
    for obj in rendered:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except SchemaNotFoundError:
            unchecked.append(obj["kind"])
        except ValidationError as e:
            pytest.fail(f"{key(obj)} against Kubernetes {version}: {'.'.join(map(str, e.path))}: {e.message}")
    assert sorted(unchecked) == sorted(CUSTOM_KINDS)  # checked by test_custom_resources_structure


def test_the_strict_schema_rejects_an_unknown_field(rendered):
    statefulset = copy.deepcopy(one(rendered, "StatefulSet"))
    kubernetes_validate.validate(statefulset, KUBERNETES_VERSIONS[-1], strict=True)
    statefulset["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/ready"}}
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(statefulset, KUBERNETES_VERSIONS[-1], strict=True)


# The part of the Prometheus Operator's CRD schemas (monitoring.coreos.com/v1, operator v0.93) that
# these manifests use, unknown fields forbidden: names, types, required fields and patterns as there.
DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
METADATA = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": STRINGS,
        "annotations": STRINGS,
    },
}
LABEL_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"matchLabels": STRINGS, "matchExpressions": {"type": "array"}},
}
RELABEL = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "action": {
            "enum": [
                a
                for name in (
                    "replace",
                    "keep",
                    "drop",
                    "hashmod",
                    "labelmap",
                    "labeldrop",
                    "labelkeep",
                    "lowercase",
                    "uppercase",
                    "keepequal",
                    "dropequal",
                )
                for a in (
                    name,
                    {
                        "hashmod": "HashMod",
                        "labelmap": "LabelMap",
                        "labeldrop": "LabelDrop",
                        "labelkeep": "LabelKeep",
                        "keepequal": "KeepEqual",
                        "dropequal": "DropEqual",
                    }.get(name, name.capitalize()),
                )
            ]
        },
        "sourceLabels": {"type": "array", "items": {"type": "string", "pattern": LABEL_NAME}},
        "separator": {"type": "string"},
        "targetLabel": {"type": "string"},
        "regex": {"type": "string"},
        "replacement": {"type": "string"},
        "modulus": {"type": "integer", "minimum": 0},
    },
}


def custom_resource(kind: str, spec: dict) -> dict:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": kind},
            "metadata": METADATA,
            "spec": spec,
        },
    }


SERVICE_MONITOR = custom_resource(
    "ServiceMonitor",
    {
        "type": "object",
        "required": ["endpoints", "selector"],
        "additionalProperties": False,
        "properties": {
            "selector": LABEL_SELECTOR,
            "jobLabel": {"type": "string"},
            "namespaceSelector": {"type": "object"},
            "endpoints": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "port": {"type": "string"},
                        "path": {"type": "string"},
                        "interval": {"type": "string", "pattern": DURATION},
                        "scrapeTimeout": {"type": "string", "pattern": DURATION},
                        "relabelings": {"type": "array", "items": RELABEL},
                        "metricRelabelings": {"type": "array", "items": RELABEL},
                    },
                },
            },
        },
    },
)
PROMETHEUS_RULE = custom_resource(
    "PrometheusRule",
    {
        "type": "object",
        "required": ["groups"],
        "additionalProperties": False,
        "properties": {
            "groups": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "interval": {"type": "string", "pattern": DURATION},
                        "query_offset": {"type": "string", "pattern": DURATION},
                        "limit": {"type": "integer"},
                        "labels": STRINGS,
                        "partial_response_strategy": {"type": "string"},
                        "rules": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["expr"],
                                "additionalProperties": False,
                                # One of the two, as Prometheus requires of a rule.
                                "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                "properties": {
                                    "alert": {"type": "string"},
                                    "record": {"type": "string"},
                                    "expr": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                                    "for": {"type": "string", "pattern": DURATION},
                                    "keep_firing_for": {"type": "string", "pattern": DURATION},
                                    "labels": STRINGS,
                                    "annotations": STRINGS,
                                },
                            },
                        },
                    },
                },
            }
        },
    },
)
CUSTOM_SCHEMAS = {"ServiceMonitor": SERVICE_MONITOR, "PrometheusRule": PROMETHEUS_RULE}


def custom_resource_problems(obj: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(CUSTOM_SCHEMAS[obj["kind"]])
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


def test_custom_resources_structure(rendered):
    custom = [o for o in rendered if o["kind"] in CUSTOM_KINDS]
    assert sorted(o["kind"] for o in custom) == sorted(CUSTOM_KINDS)
    assert {o["kind"]: custom_resource_problems(o) for o in custom} == {kind: [] for kind in CUSTOM_KINDS}


@pytest.mark.parametrize(
    "breakage",
    [
        "misspelt endpoint field",
        "unknown relabel action",
        "bad interval",
        "rule without expr",
        "rule both alert and record",
    ],
)
def test_custom_resource_check_catches_breakage(rendered, breakage):
    monitor = copy.deepcopy(one(rendered, "ServiceMonitor"))
    rule = copy.deepcopy(one(rendered, "PrometheusRule"))
    endpoint, first_rule = monitor["spec"]["endpoints"][0], rule["spec"]["groups"][0]["rules"][0]
    if breakage == "misspelt endpoint field":
        endpoint["relabellings"] = endpoint.pop("relabelings")
    elif breakage == "unknown relabel action":
        endpoint["relabelings"][0]["action"] = "rename"
    elif breakage == "bad interval":
        endpoint["interval"] = "15 seconds"
    elif breakage == "rule without expr":
        del first_rule["expr"]
    elif breakage == "rule both alert and record":
        first_rule["record"] = "x:y:z"
    assert custom_resource_problems(monitor) + custom_resource_problems(rule)


# ------------------------------------------------------------------------------------------------
# One source of truth: the rules and the dashboards


def rule_file_groups() -> list[dict]:
    return [group for path in sorted(RULES.glob("*.yml")) for group in yaml.safe_load(path.read_text())["groups"]]


def test_prometheus_rule_groups_are_the_rule_files(rendered):
    groups = one(rendered, "PrometheusRule")["spec"]["groups"]
    assert len(rule_file_groups()) >= 2
    assert groups == rule_file_groups(), (
        "deploy/k8s/prometheusrule.yaml differs from deploy/prometheus/rules: "
        "run .venv/bin/python deploy/k8s/generate.py"
    )


def test_dashboard_config_maps_are_the_dashboards(rendered):
    maps = [o for o in rendered if o["kind"] == "ConfigMap" and "grafana_dashboard" in o["metadata"].get("labels", {})]
    files = sorted(DASHBOARDS.glob("*.json"))
    assert len(files) >= 5
    assert {m["metadata"]["name"]: m["data"] for m in maps} == {
        f"engagement-dashboard-{path.stem}": {path.name: path.read_text()} for path in files
    }, "deploy/k8s/dashboards.yaml differs from grafana/dashboards: run .venv/bin/python deploy/k8s/generate.py"
    assert {m["metadata"]["labels"]["grafana_dashboard"] for m in maps} == {"1"}


def test_generated_manifests_are_current():
    result = subprocess.run(
        [sys.executable, str(K8S / "generate.py"), "--check"], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, ""), (
        f"{result.stdout}{result.stderr}run .venv/bin/python deploy/k8s/generate.py"
    )


# ------------------------------------------------------------------------------------------------
# Pod Security Standards, "restricted" (kubernetes.io/docs/concepts/security/pod-security-standards),
# which includes every "baseline" rule.

RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {None, "", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def restricted_violations(pod: dict) -> set[str]:
    """The rules of the restricted profile that a pod (metadata + spec) breaks."""
    spec, annotations = pod["spec"], pod.get("metadata", {}).get("annotations", {})
    broken = set()
    pod_sc = spec.get("securityContext", {})
    containers = [c for field in ("initContainers", "containers", "ephemeralContainers") for c in spec.get(field, [])]
    # baseline
    if any(
        sc.get("windowsOptions", {}).get("hostProcess")
        for sc in [pod_sc] + [c.get("securityContext", {}) for c in containers]
    ):
        broken.add("HostProcess")
    if any(spec.get(field) for field in ("hostNetwork", "hostPID", "hostIPC")):
        broken.add("Host Namespaces")
    if any(c.get("securityContext", {}).get("privileged") for c in containers):
        broken.add("Privileged Containers")
    if any("hostPath" in volume for volume in spec.get("volumes", [])):
        broken.add("HostPath Volumes")
    if any(port.get("hostPort") for c in containers for port in c.get("ports", [])):
        broken.add("Host Ports")
    apparmor = [pod_sc.get("appArmorProfile", {}).get("type")] + [
        c.get("securityContext", {}).get("appArmorProfile", {}).get("type") for c in containers
    ]
    apparmor_annotations = [
        value
        for name, value in annotations.items()
        if name.startswith("container.apparmor.security.beta.kubernetes.io/")
    ]
    if any(t not in (None, "RuntimeDefault", "Localhost") for t in apparmor) or any(
        value != "runtime/default" and not value.startswith("localhost/") for value in apparmor_annotations
    ):
        broken.add("AppArmor")
    for options in [pod_sc.get("seLinuxOptions", {})] + [
        c.get("securityContext", {}).get("seLinuxOptions", {}) for c in containers
    ]:
        if options.get("type") not in SELINUX_TYPES or options.get("user") or options.get("role"):
            broken.add("SELinux")
    if any(c.get("securityContext", {}).get("procMount", "Default") != "Default" for c in containers):
        broken.add("/proc Mount Type")
    if any(sysctl["name"] not in SAFE_SYSCTLS for sysctl in pod_sc.get("sysctls", [])):
        broken.add("Sysctls")
    # restricted
    if any(not RESTRICTED_VOLUME_TYPES & (set(volume) - {"name"}) for volume in spec.get("volumes", [])):
        broken.add("Volume Types")
    for c in containers:
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            broken.add("Privilege Escalation")
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True or sc.get("runAsNonRoot") is False:
            broken.add("Running as Non-root")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            broken.add("Seccomp")
        capabilities = sc.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []) or set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            broken.add("Capabilities")
    if pod_sc.get("runAsUser") == 0 or any(c.get("securityContext", {}).get("runAsUser") == 0 for c in containers):
        broken.add("Running as Non-root user")
    if pod_sc.get("seccompProfile", {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
        broken.add("Seccomp")
    return broken


def pod_template(rendered) -> dict:
    return one(rendered, "StatefulSet")["spec"]["template"]


def test_pod_is_restricted(rendered):
    assert restricted_violations(pod_template(rendered)) == set()


def _container(pod):
    return pod["spec"]["containers"][0]


BREAKAGES = {
    "HostProcess": lambda pod: pod["spec"]["securityContext"].update(windowsOptions={"hostProcess": True}),
    "Host Namespaces": lambda pod: pod["spec"].update(hostPID=True),
    "Privileged Containers": lambda pod: _container(pod)["securityContext"].update(privileged=True),
    "HostPath Volumes": lambda pod: pod["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/var"}}),
    "Host Ports": lambda pod: _container(pod)["ports"][0].update(hostPort=6066),
    "AppArmor": lambda pod: pod["spec"]["securityContext"].update(appArmorProfile={"type": "Unconfined"}),
    "SELinux": lambda pod: pod["spec"]["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
    "/proc Mount Type": lambda pod: _container(pod)["securityContext"].update(procMount="Unmasked"),
    "Sysctls": lambda pod: pod["spec"]["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
    "Volume Types": lambda pod: pod["spec"]["volumes"].append({"name": "n", "nfs": {"server": "s", "path": "/"}}),
    "Privilege Escalation": lambda pod: _container(pod)["securityContext"].pop("allowPrivilegeEscalation"),
    "Running as Non-root": lambda pod: pod["spec"]["securityContext"].pop("runAsNonRoot"),
    "Running as Non-root user": lambda pod: _container(pod)["securityContext"].update(runAsUser=0),
    "Seccomp": lambda pod: pod["spec"]["securityContext"].pop("seccompProfile"),
    "Capabilities": lambda pod: _container(pod)["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
}


@pytest.mark.parametrize("rule", BREAKAGES)
def test_restricted_check_catches_each_rule(rendered, rule):
    pod = copy.deepcopy(pod_template(rendered))
    BREAKAGES[rule](pod)
    # hostPath is also not a restricted volume type: that breakage breaks both rules.
    assert restricted_violations(pod) == ({rule, "Volume Types"} if rule == "HostPath Volumes" else {rule})


def test_restricted_allows_net_bind_service(rendered):
    pod = copy.deepcopy(pod_template(rendered))
    _container(pod)["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    assert restricted_violations(pod) == set()


def test_pod_runs_as_the_image_user_on_a_read_only_root(rendered):
    pod = pod_template(rendered)["spec"]
    uid = re.search(r"useradd .*--uid (\d+)", (REPO / "Dockerfile").read_text()).group(1)
    assert pod["securityContext"]["runAsUser"] == int(uid)
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # The only writable place: /tmp, where tempfile.gettempdir() (no TMPDIR set) puts Faust's datadir.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts == {"/tmp": "tmp"}
    assert set(volumes["tmp"]) == {"name", "emptyDir"}
    assert "TMPDIR" not in {e["name"] for e in container.get("env", [])} | set(config_map(rendered))
    assert "tempfile.gettempdir()" in (REPO / "streams" / "api" / "app.py").read_text()


def test_no_service_links_no_api_token(rendered):
    pod = pod_template(rendered)["spec"]
    assert pod["enableServiceLinks"] is False
    assert pod["automountServiceAccountToken"] is False


# ------------------------------------------------------------------------------------------------
# The worker: probes, identity, settings, resources


def config_map(rendered) -> dict[str, str]:
    return one(rendered, "ConfigMap", "engagement-worker")["data"]


def container_env(rendered, pod_name: str, pod_ip: str, namespace: str = "engagement") -> dict[str, str]:
    """The container's environment as the kubelet builds it for a pod: envFrom, then env, with
    $(VAR) references to variables defined before, and the downward API; optional secrets absent."""
    container = _container(pod_template(rendered))
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(one(rendered, "ConfigMap", source["configMapRef"]["name"])["data"])
    fields = {"metadata.name": pod_name, "metadata.namespace": namespace, "status.podIP": pod_ip}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), item["value"])
        elif "fieldRef" in item["valueFrom"]:
            env[item["name"]] = fields[item["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            assert item["valueFrom"]["secretKeyRef"]["optional"] is True
    return env


def kafka_identity(env: dict[str, str]) -> tuple[str, str]:
    """The transactional id and the static group instance id a worker with this environment uses
    (streams/engine/loop.py: f"{group_id}-{web_url}", web_url = Settings.worker_url)."""
    settings = Settings.from_env(env)  # also: every ENGAGEMENT_* variable is a setting
    transactional_id = f"{settings.app_id}-engine-{settings.worker_url}"
    return transactional_id, instance_id(transactional_id)


def test_identity_is_the_pod_name_not_its_ip(rendered):
    first = kafka_identity(container_env(rendered, "engagement-worker-0", "10.0.0.7"))
    recreated = kafka_identity(container_env(rendered, "engagement-worker-0", "10.0.3.12"))
    other = kafka_identity(container_env(rendered, "engagement-worker-1", "10.0.0.7"))
    assert first == recreated
    assert first[1] != other[1] and first[0] != other[0]
    assert first == (
        "engagement-engine-http://engagement-worker-0.engagement-worker:6066",
        "engagement-engine-http___engagement-worker-0.engagement-worker_6066",
    )


def test_advertised_url_resolves_to_the_pod(rendered):
    """<pod>.<service> is a pod's DNS name when the service is the StatefulSet's headless governing
    Service selecting its pods, published before they are ready; the port is the one the worker serves."""
    statefulset, service = one(rendered, "StatefulSet"), one(rendered, "Service")
    url = Settings.from_env(container_env(rendered, "engagement-worker-1", "10.0.0.8")).worker_url
    port = config_map(rendered)["ENGAGEMENT_WEB_PORT"]
    assert url == f"http://engagement-worker-1.{statefulset['spec']['serviceName']}:{port}"
    assert service["metadata"]["name"] == statefulset["spec"]["serviceName"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == statefulset["spec"]["selector"]["matchLabels"]
    pod_labels = pod_template(rendered)["metadata"]["labels"]
    assert statefulset["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert [p["containerPort"] for p in _container(pod_template(rendered))["ports"]] == [
        int(config_map(rendered)["ENGAGEMENT_WEB_PORT"])
    ]


def test_probes_are_live_and_ready(rendered):
    container = _container(pod_template(rendered))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    live, ready = container["livenessProbe"], container["readinessProbe"]
    assert (live["httpGet"]["path"], ports[live["httpGet"]["port"]]) == ("/live", 6066)
    assert (ready["httpGet"]["path"], ports[ready["httpGet"]["port"]]) == ("/ready", 6066)
    assert "startupProbe" not in container  # /live is 200 while starting: nothing for it to add
    # A restart only after /live has failed for 30 s; /ready may fail as long as a restore lasts.
    assert live["periodSeconds"] * live["failureThreshold"] == 30


def test_sasl_password_comes_from_a_secret(rendered):
    container = _container(pod_template(rendered))
    password = [e for e in container["env"] if e["name"] == "ENGAGEMENT_KAFKA_SASL_PASSWORD"]
    assert password == [
        {
            "name": "ENGAGEMENT_KAFKA_SASL_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "engagement-kafka", "key": "sasl-password", "optional": True}},
        }
    ]
    assert "ENGAGEMENT_KAFKA_SASL_PASSWORD" in ENV_NAMES
    assert not [o for o in rendered if o["kind"] == "Secret"]  # the operator creates it (README)
    assert not [name for name in config_map(rendered) if "PASSWORD" in name]
    # README's Deployment section creates that Secret, with that key.
    readme = (REPO / "README.md").read_text()
    assert re.search(r"kubectl (-n \S+ )?create secret generic engagement-kafka --from-file=sasl-password=", readme)


def test_resources(rendered):
    assert _container(pod_template(rendered))["resources"] == {
        "requests": {"cpu": "1", "memory": "512Mi"},
        "limits": {"memory": "1Gi"},
    }


def test_disruption_budget_and_spread(rendered):
    statefulset, budget = one(rendered, "StatefulSet"), one(rendered, "PodDisruptionBudget")
    selector = statefulset["spec"]["selector"]
    assert budget["spec"] == {"maxUnavailable": 1, "selector": selector}
    assert statefulset["spec"]["replicas"] > budget["spec"]["maxUnavailable"]
    spread = {c["topologyKey"]: c for c in pod_template(rendered)["spec"]["topologySpreadConstraints"]}
    assert set(spread) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    assert all(c["labelSelector"] == selector and c["maxSkew"] == 1 for c in spread.values())


def test_image_is_the_one_compose_builds(rendered):
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    worker = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["worker"]
    assert worker["build"] == "."
    assert _container(pod_template(rendered))["image"] == worker["image"] == f"engagement-streams:{version}"


# ------------------------------------------------------------------------------------------------
# One scrape path, job="engagement"


def relabel(labels: dict[str, str], configs: list[dict]) -> dict[str, str]:
    """Prometheus' relabeling, action replace (the only one used), configs as the operator takes them."""
    labels = dict(labels)
    for config in configs:
        assert config.get("action", "replace").lower() == "replace"
        value = config.get("separator", ";").join(labels.get(name, "") for name in config.get("sourceLabels", []))
        match = re.fullmatch(config.get("regex", "(.*)"), value)
        if match:
            result = match.expand(re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", config.get("replacement", "$1")))
            if result:
                labels[config["targetLabel"]] = result
            else:
                labels.pop(config["targetLabel"], None)
    return labels


def scraped_target_labels(rendered, pod_name: str = "engagement-worker-0") -> dict[str, str]:
    """The job and instance of a worker's target as the Prometheus Operator's scrape config makes
    them: job = the Service's name (no jobLabel), then the endpoint's relabelings; instance defaults
    to the address."""
    monitor, service = one(rendered, "ServiceMonitor"), one(rendered, "Service")
    meta = {
        "__address__": "10.0.0.7:6066",
        "__meta_kubernetes_service_name": service["metadata"]["name"],
        "__meta_kubernetes_pod_name": pod_name,
        "__meta_kubernetes_namespace": "engagement",
    }
    assert "jobLabel" not in monitor["spec"]
    labels = relabel(meta, [{"sourceLabels": ["__meta_kubernetes_service_name"], "targetLabel": "job"}])
    labels = relabel(labels, monitor["spec"]["endpoints"][0].get("relabelings", []))
    labels.setdefault("instance", labels["__address__"])
    return {name: labels[name] for name in ("job", "instance")}


def test_one_scrape_path_with_job_engagement(rendered):
    metadata = [(key(o), o["metadata"]) for o in rendered] + [("pod template", pod_template(rendered)["metadata"])]
    annotated = [
        who for who, meta in metadata if any(a.startswith("prometheus.io/") for a in meta.get("annotations", {}))
    ]
    assert annotated == []
    monitor = one(rendered, "ServiceMonitor")
    services = [
        s
        for s in rendered
        if s["kind"] == "Service"
        and monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
    ]
    assert [s["metadata"]["name"] for s in services] == ["engagement-worker"]
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [p["name"] for p in services[0]["spec"]["ports"]]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert scraped_target_labels(rendered) == {"job": "engagement", "instance": "engagement-worker-0"}
    # ... the job the rules select.
    jobs = {job for path in RULES.glob("*.yml") for job in re.findall(r'job="([^"]*)"', path.read_text())}
    assert jobs == {"engagement"}


def test_relabel_semantics():
    assert relabel({"a": "x", "b": "y"}, [{"sourceLabels": ["a", "b"], "separator": ":", "targetLabel": "c"}]) == {
        "a": "x",
        "b": "y",
        "c": "x:y",
    }
    assert relabel({"a": "x"}, [{"targetLabel": "job", "replacement": "fixed"}]) == {"a": "x", "job": "fixed"}
    assert relabel(
        {"a": "x-1"}, [{"sourceLabels": ["a"], "regex": "x-(.*)", "replacement": "${1}", "targetLabel": "n"}]
    ) == {"a": "x-1", "n": "1"}
    assert relabel({"a": "x", "n": "old"}, [{"sourceLabels": ["b"], "targetLabel": "n"}]) == {"a": "x"}


def test_the_pod_s_grace_period_outlasts_the_worker_s_own_shutdown_deadline(rendered):
    """A worker whose broker has gone ends its stop after its shutdown timeout (streams/api/shutdown.py);
    killed sooner by the kubelet, it would not log why."""
    settings = Settings.from_env(container_env(rendered, "engagement-worker-0", "10.0.0.7"))
    grace = pod_template(rendered)["spec"]["terminationGracePeriodSeconds"]
    assert grace >= settings.shutdown_timeout_seconds + 10
