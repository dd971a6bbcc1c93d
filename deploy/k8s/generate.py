"""Generate base/alerting-sectors.yaml: one alerting worker Deployment per catalog sector.

Sectors are data (the catalog), not code, so their Deployments, HorizontalPodAutoscalers and
PodDisruptionBudgets are generated from it and the output is committed; tests/deploy checks it is
up to date. Run from the repository root:

    uv run python deploy/k8s/generate.py                      # default catalog -> base/
    uv run python deploy/k8s/generate.py --catalog other.yaml --output /tmp/sectors.yaml
    uv run python deploy/k8s/generate.py --check              # exit 1 if the file is stale
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_CATALOG = ROOT / "libs/common/src/riskwatch/common/catalog/default.yaml"
DEFAULT_OUTPUT = HERE / "base" / "alerting-sectors.yaml"

SERVICE = "alerting"
IMAGE = "riskwatch/alerting:0.1.0"
PORT = 8002
NAME_PREFIX = "alerting-worker-"
SECTOR_LABEL = "riskwatch.io/sector"
# More consumers than the sector's readings partitions (KafkaSettings.readings_partitions, 6)
# would sit idle, so that is the ceiling. Two at least: a sector keeps alerting while one pod
# is rescheduled.
MIN_REPLICAS = 2
MAX_REPLICAS = 6
CPU_TARGET_PERCENT = 70
# Writable mounts under a read-only root filesystem: scratch space, and RW_DATA_DIR.
TMP_DIR = "/tmp"  # noqa: S108 - an emptyDir mount point inside the container
DATA_DIR = "/var/lib/riskwatch"
# A DNS-1123 label, as sector ids are used in topic names, label values and resource names.
_SECTOR_ID = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MAX_NAME = 63

Manifest = dict[str, Any]


class CatalogError(ValueError):
    """The catalog has no usable sector list."""


def load_sector_ids(catalog: Path) -> list[str]:
    """The sector ids of a catalog file, in catalog order; refuses ids unfit for resource names."""
    data = yaml.safe_load(catalog.read_text(encoding="utf-8"))
    sectors = data.get("sectors") if isinstance(data, dict) else None
    if not isinstance(sectors, list) or not sectors:
        raise CatalogError(f"{catalog}: no `sectors` list")
    ids: list[str] = []
    for entry in sectors:
        sector_id = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(sector_id, str) or not _SECTOR_ID.match(sector_id):
            raise CatalogError(f"{catalog}: sector id {sector_id!r} is not a DNS-1123 label")
        if len(NAME_PREFIX + sector_id) > _MAX_NAME:
            raise CatalogError(f"{catalog}: sector id {sector_id!r} is too long for a name")
        if sector_id in ids:
            raise CatalogError(f"{catalog}: sector id {sector_id!r} appears twice")
        ids.append(sector_id)
    return ids


def _labels(sector: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": SERVICE,
        "app.kubernetes.io/component": "worker",
        "app.kubernetes.io/part-of": "riskwatch",
        SECTOR_LABEL: sector,
    }


def _selector(sector: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": SERVICE,
        "app.kubernetes.io/component": "worker",
        SECTOR_LABEL: sector,
    }


# The services' database role (base/secret.yaml): never the owner of the schemas.
DATABASE_SECRET = "riskwatch-db"  # noqa: S105 - a Secret's name


def _secret_env(name: str, secret: str) -> Manifest:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": name}}}


def _http_probe(path: str, *, period: int, failures: int) -> Manifest:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def deployment(sector: str) -> Manifest:
    """The worker of one sector: consumer group alerting.<sector> on rw.<sector>.readings."""
    name = NAME_PREFIX + sector
    container: Manifest = {
        "name": SERVICE,
        "image": IMAGE,
        "args": ["serve"],
        "ports": [{"name": "http", "containerPort": PORT}],
        "envFrom": [
            {"configMapRef": {"name": "riskwatch-config"}},
            {"configMapRef": {"name": f"{SERVICE}-config"}},
        ],
        "env": [
            {"name": "RW_ROLE", "value": "worker"},
            {"name": "RW_SECTORS", "value": sector},
            _secret_env("RW_DATABASE__URL", DATABASE_SECRET),
        ],
        # The broker may come up after the pod: startup retries for up to three minutes.
        "startupProbe": _http_probe("/healthz", period=5, failures=36),
        "livenessProbe": _http_probe("/livez", period=10, failures=3),
        "readinessProbe": _http_probe("/readyz", period=5, failures=3),
        # Out of the Service's endpoints before SIGTERM arrives, then a graceful drain.
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
        "resources": {
            "requests": {"cpu": "200m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "768Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": TMP_DIR},
            {"name": "data", "mountPath": DATA_DIR},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": _labels(sector)},
        "spec": {
            # No replicas: the HorizontalPodAutoscaler below owns the count.
            "selector": {"matchLabels": _selector(sector)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": _labels(sector),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(PORT),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    # preStop 5 s + requests 15 s + batches, relay flush 10 s each, with margin.
                    "terminationGracePeriodSeconds": 60,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                        {"name": "data", "emptyDir": {"sizeLimit": "256Mi"}},
                    ],
                },
            },
        },
    }


def autoscaler(sector: str) -> Manifest:
    name = NAME_PREFIX + sector
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": _labels(sector)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": MIN_REPLICAS,
            "maxReplicas": MAX_REPLICAS,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": CPU_TARGET_PERCENT,
                        },
                    },
                }
            ],
            # Every change of size rebalances the sector's consumer group: grow at once in a
            # storm, shrink one pod at a time after it has passed.
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "policies": [{"type": "Pods", "value": 2, "periodSeconds": 30}],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": 300,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}],
                },
            },
        },
    }


def disruption_budget(sector: str) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": NAME_PREFIX + sector, "labels": _labels(sector)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(sector)}},
    }


def render(sector_ids: Sequence[str], *, source: str) -> str:
    """The whole generated file: a header, then Deployment, HPA and PDB for each sector."""
    header = (
        "# GENERATED by deploy/k8s/generate.py: do not edit.\n"
        f"# Source: {source}\n"
        "# Regenerate after a change of its sectors: uv run python deploy/k8s/generate.py\n"
        "# One alerting worker per sector (RW_ROLE=worker, RW_SECTORS=<sector>), each with its\n"
        "# own HorizontalPodAutoscaler, so an alarm storm in one sector does not delay another.\n"
    )
    docs = [
        doc
        for sector in sector_ids
        for doc in (deployment(sector), autoscaler(sector), disruption_budget(sector))
    ]
    body = yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False, width=100)
    return header + "---\n" + body


def _source_label(catalog: Path) -> str:
    resolved = catalog.resolve()
    if resolved.is_relative_to(ROOT):
        return resolved.relative_to(ROOT).as_posix()
    return resolved.name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG, help="catalog YAML")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="file to write")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the output is stale"
    )
    args = parser.parse_args(argv)

    try:
        sector_ids = load_sector_ids(args.catalog)
    except (OSError, CatalogError) as exc:
        sys.stderr.write(f"generate.py: {exc}\n")
        return 2
    text = render(sector_ids, source=_source_label(args.catalog))
    output: Path = args.output
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else None
        if current != text:
            sys.stderr.write(f"{output} is stale: run `uv run python deploy/k8s/generate.py`\n")
            return 1
        return 0
    output.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {output} ({len(sector_ids)} sectors: {', '.join(sector_ids)})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
