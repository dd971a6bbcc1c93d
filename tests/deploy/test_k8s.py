"""deploy/k8s: schema-valid manifests, complete kustomizations, probes and limits everywhere,
one autoscaled alerting worker per catalog sector, and a generated file that is up to date."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

from riskwatch.common.audit.settings import AuditSettings
from riskwatch.common.catalog import load_catalog
from riskwatch.common.cli import SERVICES_URL_ENV
from riskwatch.common.settings import AuthSettings, KafkaSettings, ServiceSettings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
BASE = K8S / "base"
LOCAL = K8S / "overlays" / "local"
SERVICES = ("ingest", "alerting", "workorder", "notify", "reporting")
# The oldest Kubernetes we support and the newest the installed kubernetes-validate knows;
# both offline (the schemas ship in the wheel).
K8S_VERSIONS = ("1.30", kubernetes_validate.latest_version())
ROLE_LABEL = "app.kubernetes.io/component"
NAME_LABEL = "app.kubernetes.io/name"
SECTOR_LABEL = "riskwatch.io/sector"
# The services' role and the owner of the schemas (base/secret.yaml).
SERVICES_SECRET = "riskwatch-db"
OWNER_SECRET = "riskwatch-db-owner"

Doc = dict[str, Any]


def _docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _manifest_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def _base_docs() -> list[Doc]:
    resources = _docs(BASE / "kustomization.yaml")[0]["resources"]
    return [doc for name in resources for doc in _docs(BASE / name)]


def _local_docs() -> list[Doc]:
    return [
        doc
        for p in sorted(LOCAL.glob("*.yaml"))
        if p.name != "kustomization.yaml"
        for doc in _docs(p)
    ]


def _of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def _by_name(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in _of_kind(docs, kind)}


def _pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def _containers(workload: Doc) -> Iterator[Doc]:
    spec = _pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def _env(container: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in container.get("env", [])}


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.fixture(scope="module")
def base() -> list[Doc]:
    return _base_docs()


@pytest.fixture(scope="module")
def generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("riskwatch_deploy_generate", K8S / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- schemas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifest_validates_against_the_kubernetes_schema(path: Path, version: str) -> None:
    docs = _docs(path)
    assert docs, f"{path}: no documents"
    for doc in docs:
        # strict: unknown fields (a misspelt probe, say) fail instead of being ignored.
        kubernetes_validate.validate(doc, version, strict=True)


# -- kustomize -------------------------------------------------------------------------------


def test_base_kustomization_lists_every_file_and_nothing_missing() -> None:
    kustomization = _docs(BASE / "kustomization.yaml")[0]
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), "a file listed twice"
    on_disk = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == on_disk
    assert kustomization["namespace"] == "riskwatch"


def test_local_overlay_builds_on_base_and_lists_its_files() -> None:
    kustomization = _docs(LOCAL / "kustomization.yaml")[0]
    listed = kustomization["resources"]
    assert "../../base" in listed
    local_files = {p.name for p in LOCAL.glob("*.yaml")} - {"kustomization.yaml"}
    assert {r for r in listed if not r.startswith("..")} == local_files
    # Everything the overlay names exists in the base or beside it.
    deployments = set(_by_name(_base_docs(), "Deployment"))
    assert {r["name"] for r in kustomization["replicas"]} <= deployments
    images = {
        c["image"].split(":")[0]
        for d in _base_docs()
        if d["kind"] in ("Deployment", "Job")
        for c in _containers(d)
    }
    assert {i["name"] for i in kustomization["images"]} == images


def _kustomize(path: Path) -> list[Doc]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (its built-in kustomize) is part of the machine image"
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [kubectl, "kustomize", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.mark.parametrize("path", [BASE, LOCAL], ids=["base", "overlays/local"])
def test_kustomize_renders_valid_manifests(path: Path) -> None:
    rendered = _kustomize(path)
    for doc in rendered:
        kubernetes_validate.validate(doc, K8S_VERSIONS[0], strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "riskwatch", doc["metadata"]["name"]
    expected = len(_base_docs()) + (len(_local_docs()) + 1 if path == LOCAL else 0)
    assert len(rendered) == expected  # + the overlay's generated postgres-local Secret


def test_local_overlay_is_small_and_development_only() -> None:
    rendered = _kustomize(LOCAL)
    for hpa in _of_kind(rendered, "HorizontalPodAutoscaler"):
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 2)
    for deployment in _of_kind(rendered, "Deployment"):
        assert deployment["spec"].get("replicas", 1) == 1
    config = _by_name(rendered, "ConfigMap")["riskwatch-config"]["data"]
    assert config["RW_ENV"] == "development"
    assert config["RW_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    for workload in _of_kind(rendered, "Deployment") + _of_kind(rendered, "Job"):
        for container in _containers(workload):
            assert container["image"].endswith(":dev"), container["image"]


# -- workloads -------------------------------------------------------------------------------


def _workloads() -> list[tuple[str, Doc]]:
    docs = [("base", d) for d in _base_docs()] + [("local", d) for d in _local_docs()]
    return [
        (f"{origin}/{d['kind']}/{d['metadata']['name']}", d)
        for origin, d in docs
        if d["kind"] in ("Deployment", "StatefulSet", "Job")
    ]


@pytest.mark.parametrize(("label", "workload"), _workloads(), ids=[w[0] for w in _workloads()])
def test_workload_runs_non_root_with_limits(label: str, workload: Doc) -> None:
    pod = _pod_spec(workload)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    for container in _containers(workload):
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), container["name"]
        assert {"cpu", "memory"} <= set(resources["limits"]), container["name"]
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        if workload["kind"] != "Job":
            assert "readinessProbe" in container, f"{label}: no readiness probe"
            assert "livenessProbe" in container, f"{label}: no liveness probe"


def test_riskwatch_deployments_probe_the_health_endpoints(
    base: list[Doc], service_ports: dict[str, int]
) -> None:
    deployments = _of_kind(base, "Deployment")
    assert deployments
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        service = labels[NAME_LABEL]
        port = service_ports[service]
        (container,) = _pod_spec(deployment)["containers"]
        assert container["image"].split(":")[0] == f"riskwatch/{service}", name
        assert container["args"] == ["serve"], name
        assert container["ports"] == [{"name": "http", "containerPort": port}], name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        # Liveness fails once a background component gave up restarting (the process must go).
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez", name
        # A graceful drain on SIGTERM: out of the endpoints first, then time to finish requests
        # (15 s), in-flight batches and the outbox flush (10 s each) before the kill.
        assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"], name
        assert _pod_spec(deployment)["terminationGracePeriodSeconds"] >= 45, name
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/tmp", "/var/lib/riskwatch"} <= mounts, name  # noqa: S108 - emptyDir mounts
        role = _env(container)["RW_ROLE"]["value"]
        assert role == labels[ROLE_LABEL], name
        assert role in ("api", "worker"), name
        assert name in (f"{service}-{role}", f"alerting-worker-{labels.get(SECTOR_LABEL)}")
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/port"] == str(port), name
        assert annotations["prometheus.io/path"] == "/metrics", name


def test_every_service_has_an_api_and_workers(base: list[Doc]) -> None:
    deployments = _by_name(base, "Deployment")
    services = _by_name(base, "Service")
    for service in SERVICES:
        assert f"{service}-api" in deployments
        workers = [
            d
            for d in deployments.values()
            if d["metadata"]["labels"][NAME_LABEL] == service
            and d["metadata"]["labels"][ROLE_LABEL] == "worker"
        ]
        assert workers, f"{service}: no worker Deployment"
        # The Service fronts the API pods only.
        selector = services[service]["spec"]["selector"]
        selected = [
            n
            for n, d in deployments.items()
            if _selects(selector, d["spec"]["template"]["metadata"]["labels"])
        ]
        assert selected == [f"{service}-api"]
    assert "alerting-worker" not in deployments, "alerting's workers are per sector"


def test_selectors_are_disjoint_and_match_their_pods(base: list[Doc]) -> None:
    deployments = _of_kind(base, "Deployment")
    for deployment in deployments:
        selector = deployment["spec"]["selector"]["matchLabels"]
        own = deployment["spec"]["template"]["metadata"]["labels"]
        assert _selects(selector, own)
        for other in deployments:
            if other is not deployment:
                labels = other["spec"]["template"]["metadata"]["labels"]
                assert not _selects(selector, labels), (
                    f"{deployment['metadata']['name']} would adopt pods of "
                    f"{other['metadata']['name']}"
                )


def test_every_deployment_has_one_disruption_budget(base: list[Doc]) -> None:
    budgets = _of_kind(base, "PodDisruptionBudget")
    for deployment in _of_kind(base, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        matching = [b for b in budgets if _selects(b["spec"]["selector"]["matchLabels"], labels)]
        assert len(matching) == 1, deployment["metadata"]["name"]
        # maxUnavailable, not minAvailable: a one-pod Deployment can still be drained.
        assert matching[0]["spec"]["maxUnavailable"] == 1
    assert len(budgets) == len(_of_kind(base, "Deployment"))


def test_autoscalers_target_deployments_that_leave_replicas_to_them(base: list[Doc]) -> None:
    deployments = _by_name(base, "Deployment")
    autoscalers = _of_kind(base, "HorizontalPodAutoscaler")
    targets = [h["spec"]["scaleTargetRef"]["name"] for h in autoscalers]
    assert len(targets) == len(set(targets)), "two autoscalers on one Deployment"
    for hpa in autoscalers:
        ref = hpa["spec"]["scaleTargetRef"]
        assert (ref["apiVersion"], ref["kind"]) == ("apps/v1", "Deployment")
        assert ref["name"] in deployments
        assert "replicas" not in deployments[ref["name"]]["spec"], ref["name"]
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert metric["resource"]["target"]["type"] == "Utilization"
    for service in SERVICES:
        assert f"{service}-api" in targets, f"{service}-api has no autoscaler"


def test_references_to_config_and_secrets_resolve(base: list[Doc]) -> None:
    config_maps = _by_name(base, "ConfigMap")
    secrets = _by_name(base, "Secret")
    for workload in _of_kind(base, "Deployment") + _of_kind(base, "Job"):
        for container in _containers(workload):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None:
                    assert ref["key"] in secrets[ref["name"]]["stringData"], ref


def test_only_ingest_hosts_the_builtin_issuer(base: list[Doc]) -> None:
    config_maps = _by_name(base, "ConfigMap")
    assert "RW_AUTH__BUILTIN_ISSUER" not in config_maps["riskwatch-config"]["data"]
    for service in SERVICES:
        data = config_maps[f"{service}-config"].get("data") or {}
        assert data.get("RW_AUTH__BUILTIN_ISSUER", "false") == (
            "true" if service == "ingest" else "false"
        )
    for deployment in _of_kind(base, "Deployment"):
        service = deployment["metadata"]["labels"][NAME_LABEL]
        (container,) = _pod_spec(deployment)["containers"]
        assert ("RW_ADMIN_PASSWORD" in _env(container)) == (service == "ingest")


def test_production_refuses_the_placeholder_admin_password(base: list[Doc]) -> None:
    config = _by_name(base, "ConfigMap")["riskwatch-config"]["data"]
    assert config["RW_ENV"] == "production"
    placeholder = _by_name(base, "Secret")["riskwatch-secrets"]["stringData"]
    with pytest.raises(ValidationError, match="RW_ADMIN_PASSWORD"):
        ServiceSettings(env="production", admin_password=placeholder["RW_ADMIN_PASSWORD"])


def test_tokens_need_no_shared_secret_and_services_verify_with_the_issuers_keys(
    base: list[Doc],
) -> None:
    """No JWT secret anywhere (the issuer signs with its own Ed25519 keys, docs/adr/0014): the
    services that do not host the issuer fetch its public keys from ingest's Service."""
    manifests = "".join(p.read_text(encoding="utf-8") for p in K8S.rglob("*.yaml"))
    assert "JWT_SECRET" not in manifests
    assert "jwt_secret" not in AuthSettings.model_fields
    config_maps = _by_name(base, "ConfigMap")
    services = _by_name(base, "Service")
    ingest_port = services["ingest"]["spec"]["ports"][0]["port"]
    jwks_url = f"http://ingest:{ingest_port}/.well-known/jwks.json"
    for service in SERVICES:
        data = config_maps[f"{service}-config"].get("data") or {}
        expected = None if service == "ingest" else jwks_url
        assert data.get("RW_AUTH__JWKS_URL") == expected, service
        if expected:
            settings = AuthSettings(jwks_url=expected)
            assert settings.jwks_url == expected
    assert "RW_AUTH__JWKS_URL" not in config_maps["riskwatch-config"]["data"]


def _secret_ref(env: Doc) -> tuple[str, str] | None:
    ref = env.get("valueFrom", {}).get("secretKeyRef")
    return None if ref is None else (ref["name"], ref["key"])


def test_one_migration_job_per_service(base: list[Doc]) -> None:
    """Each Job migrates as the owner, then makes the services' role (grant-services) of the
    user and password in riskwatch-db, still as the owner."""
    jobs = _by_name(base, "Job")
    assert set(jobs) == {f"{service}-migrate" for service in SERVICES}
    for service in SERVICES:
        job = jobs[f"{service}-migrate"]
        pod = _pod_spec(job)
        assert pod["restartPolicy"] == "Never"
        (migrate,) = pod["initContainers"]  # runs to its end before the grant starts
        (grant,) = pod["containers"]
        assert [migrate["args"], grant["args"]] == [["migrate"], ["grant-services"]]
        for container in (migrate, grant):
            assert container["image"].split(":")[0] == f"riskwatch/{service}"
            refs = [s["configMapRef"]["name"] for s in container["envFrom"]]
            assert refs == ["riskwatch-config", f"{service}-config"]
            assert _secret_ref(_env(container)["RW_DATABASE__URL"]) == (
                OWNER_SECRET,
                "RW_DATABASE__URL",
            )
        assert set(_env(migrate)) == {"RW_DATABASE__URL"}
        assert set(_env(grant)) == {"RW_DATABASE__URL", SERVICES_URL_ENV}
        assert _secret_ref(_env(grant)[SERVICES_URL_ENV]) == (SERVICES_SECRET, "RW_DATABASE__URL")


def test_only_the_audit_housekeeping_of_reporting_gets_the_owner(base: list[Doc]) -> None:
    """Every Deployment connects as the services' role (riskwatch-db), which may only read and
    append to the audit trail; the owner's secret reaches no pod but reporting-worker's audit
    housekeeping, which makes and drops the trail's partitions."""
    owners: list[tuple[str, str]] = []
    for deployment in _of_kind(base, "Deployment"):
        name = deployment["metadata"]["name"]
        for container in _containers(deployment):
            env = _env(container)
            assert _secret_ref(env["RW_DATABASE__URL"]) == (SERVICES_SECRET, "RW_DATABASE__URL")
            owners += [
                (name, variable)
                for variable, entry in env.items()
                if (_secret_ref(entry) or ("",))[0] == OWNER_SECRET
            ]
            assert not any(
                s.get("secretRef", {}).get("name") == OWNER_SECRET
                for s in container.get("envFrom", [])
            ), name
    assert owners == [("reporting-worker", "RW_AUDIT__OWNER_URL")]
    # The variable is the audit trail's setting (the worker runs the housekeeping).
    assert AuditSettings.model_config["env_prefix"] + "OWNER_URL" == "RW_AUDIT__OWNER_URL"
    assert "owner_url" in AuditSettings.model_fields
    jobs = _of_kind(base, "Job")
    assert all(
        _secret_ref(_env(c)["RW_DATABASE__URL"]) == (OWNER_SECRET, "RW_DATABASE__URL")
        for job in jobs
        for c in _containers(job)
    )


def _user(url: str) -> str | None:
    return urlsplit(url).username


def test_the_services_and_the_owner_are_two_roles(base: list[Doc]) -> None:
    secrets = _by_name(base, "Secret")
    services = secrets[SERVICES_SECRET]["stringData"]["RW_DATABASE__URL"]
    owner = secrets[OWNER_SECRET]["stringData"]["RW_DATABASE__URL"]
    assert _user(services) != _user(owner)
    assert "RW_DATABASE__URL" not in secrets["riskwatch-secrets"]["stringData"]
    # The local overlay: the owner is its PostgreSQL's superuser, the services another role.
    overlay = _docs(LOCAL / "kustomization.yaml")[0]
    literals = {
        g["name"]: dict(item.split("=", 1) for item in g["literals"])
        for g in overlay["secretGenerator"]
    }
    (server,) = _pod_spec(_by_name(_local_docs(), "StatefulSet")["postgres"])["containers"]
    superuser = _env(server)["POSTGRES_USER"]["value"]
    assert _user(literals[OWNER_SECRET]["RW_DATABASE__URL"]) == superuser
    assert _user(literals[SERVICES_SECRET]["RW_DATABASE__URL"]) not in (superuser, None)
    for name in (SERVICES_SECRET, OWNER_SECRET, "riskwatch-secrets"):
        generator = next(g for g in overlay["secretGenerator"] if g["name"] == name)
        assert generator["behavior"] == "replace", name


# -- sectors ---------------------------------------------------------------------------------


def test_every_catalog_sector_has_exactly_one_autoscaled_alerting_worker(
    base: list[Doc],
) -> None:
    sectors = [s.id for s in load_catalog(None).sectors]
    assert len(sectors) == 7
    workers = [
        d
        for d in _of_kind(base, "Deployment")
        if d["metadata"]["labels"][NAME_LABEL] == "alerting"
        and d["metadata"]["labels"][ROLE_LABEL] == "worker"
    ]
    by_sector: dict[str, list[Doc]] = {}
    for worker in workers:
        (container,) = _pod_spec(worker)["containers"]
        env = _env(container)
        assert env["RW_ROLE"]["value"] == "worker"
        by_sector.setdefault(env["RW_SECTORS"]["value"], []).append(worker)
    assert sorted(by_sector) == sorted(sectors), "one worker per sector, no other"
    autoscalers = _of_kind(base, "HorizontalPodAutoscaler")
    partitions = int(
        _by_name(base, "ConfigMap")["riskwatch-config"]["data"]["RW_KAFKA__READINGS_PARTITIONS"]
    )
    for sector in sectors:
        (worker,) = by_sector[sector]
        name = worker["metadata"]["name"]
        assert name == f"alerting-worker-{sector}"
        assert worker["spec"]["template"]["metadata"]["labels"][SECTOR_LABEL] == sector
        hpas = [h for h in autoscalers if h["spec"]["scaleTargetRef"]["name"] == name]
        assert len(hpas) == 1, f"{name}: {len(hpas)} autoscalers"
        # More consumers than the sector topic's partitions would sit idle.
        assert hpas[0]["spec"]["maxReplicas"] <= partitions
    assert partitions == KafkaSettings().readings_partitions


def test_generated_sector_file_is_up_to_date(generate: ModuleType) -> None:
    sectors = generate.load_sector_ids(generate.DEFAULT_CATALOG)
    assert sectors == [s.id for s in load_catalog(None).sectors]
    expected = generate.render(
        sectors, source="libs/common/src/riskwatch/common/catalog/default.yaml"
    )
    committed = (BASE / "alerting-sectors.yaml").read_text(encoding="utf-8")
    assert committed == expected, "stale: run `uv run python deploy/k8s/generate.py`"


def test_generate_check_mode_tells_fresh_from_stale(tmp_path: Path) -> None:
    script = str(K8S / "generate.py")
    fresh = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, script, "--check"], capture_output=True, text=True, check=False
    )
    assert fresh.returncode == 0, fresh.stderr
    stale = tmp_path / "sectors.yaml"
    stale.write_text("# old\n", encoding="utf-8")
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, script, "--check", "--output", str(stale)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert stale.read_text(encoding="utf-8") == "# old\n", "--check writes nothing"


def test_generate_follows_another_catalog(generate: ModuleType, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("sectors:\n  - {id: flood}\n  - {id: gas-grid}\n", encoding="utf-8")
    output = tmp_path / "sectors.yaml"
    assert generate.main(["--catalog", str(catalog), "--output", str(output)]) == 0
    docs = _docs(output)
    assert [d["metadata"]["name"] for d in _of_kind(docs, "Deployment")] == [
        "alerting-worker-flood",
        "alerting-worker-gas-grid",
    ]
    assert len(_of_kind(docs, "HorizontalPodAutoscaler")) == 2
    assert len(_of_kind(docs, "PodDisruptionBudget")) == 2
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSIONS[0], strict=True)


@pytest.mark.parametrize(
    "sectors",
    [
        "[]",
        "[{id: Flood}]",
        "[{id: flood}, {id: flood}]",
        "[{name: no-id}]",
        f"[{{id: {'x' * 48}}}]",
    ],
)
def test_generate_refuses_sector_ids_unfit_for_resource_names(
    generate: ModuleType, tmp_path: Path, sectors: str
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(f"sectors: {sectors}\n", encoding="utf-8")
    with pytest.raises(generate.CatalogError):
        generate.load_sector_ids(catalog)
    assert generate.main(["--catalog", str(catalog), "--output", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()
