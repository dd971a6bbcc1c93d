"""docker-compose.yml: the distributed stack on a workstation (read as YAML: no Docker needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

SERVICES = ("ingest", "alerting", "workorder", "notify", "reporting")


@pytest.fixture(scope="module")
def compose(root: Path) -> dict[str, Any]:
    data = yaml.safe_load((root / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping (merged from the x- anchor)"
    return {str(k): str(v) for k, v in env.items()}


def _depends(service: dict[str, Any]) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in service.get("depends_on", {}).items()}


def test_stack_has_infrastructure_migrations_and_the_five_services(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert {"kafka", "postgres", "migrate", *SERVICES} <= set(services)
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert services["postgres"]["image"] == "postgres:18"


@pytest.mark.parametrize("name", SERVICES)
def test_service_builds_its_dockerfile_and_publishes_its_port_on_loopback(
    compose: dict[str, Any], root: Path, service_ports: dict[str, int], name: str
) -> None:
    service = compose["services"][name]
    port = service_ports[name]
    build = service["build"]
    assert build["context"] == "."
    assert build["dockerfile"] == f"services/{name}/Dockerfile"
    assert (root / build["context"] / build["dockerfile"]).is_file()
    assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
    env = _env(service)
    assert env["RW_PORT"] == str(port)
    assert env["RW_HOST"] == "0.0.0.0"  # noqa: S104 - inside the container, published on loopback
    assert env["RW_BUS"] == "kafka"
    assert env["RW_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["RW_DATABASE__URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/riskwatch" in env["RW_DATABASE__URL"]
    # The defaults for secrets are placeholders: only development accepts them.
    assert env["RW_ENV"] == "development"
    assert env["RW_AUTH__BUILTIN_ISSUER"] == ("true" if name == "ingest" else "false")
    # No shared token secret: the services verify with the issuer's public keys.
    assert not any("JWT" in key for key in env)
    assert env["RW_AUTH__JWKS_URL"] == "http://ingest:8001/.well-known/jwks.json"
    assert _depends(service) == {
        "migrate": "service_completed_successfully",
        "kafka": "service_healthy",
        "postgres": "service_healthy",
    }


def _owner_url(compose: dict[str, Any]) -> str:
    url = compose["x-riskwatch-owner-url"]
    assert isinstance(url, str)
    return url


def test_every_service_migrates_as_the_owner_before_the_services_start(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    owner = _owner_url(compose)
    for name in SERVICES:
        step = services[f"migrate-{name}"]
        assert step["command"] == ["migrate"]
        assert step["build"]["dockerfile"] == f"services/{name}/Dockerfile"
        assert step["image"] == services[name]["image"]
        assert step["restart"] == "no"
        assert _depends(step) == {"postgres": "service_healthy"}
        env = _env(step)
        assert env["RW_DATABASE__URL"] == owner
        # ingest's migrate also creates the built-in issuer's identity schema.
        assert env["RW_AUTH__BUILTIN_ISSUER"] == ("true" if name == "ingest" else "false")
    # Then, once all are done, the services' role is made and granted, as the owner.
    migrate = services["migrate"]
    needs = _depends(migrate)
    assert needs.pop("postgres") == "service_healthy"
    assert needs == {f"migrate-{name}": "service_completed_successfully" for name in SERVICES}
    assert migrate["command"] == ["grant-services"]
    assert migrate["image"] == services["reporting"]["image"]
    assert migrate["restart"] == "no"
    env = _env(migrate)
    assert env["RW_DATABASE__URL"] == owner
    assert env["RW_SERVICES_DATABASE_URL"] == _env(services["ingest"])["RW_DATABASE__URL"]


def test_the_services_connect_as_a_role_that_does_not_own_the_schemas(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    owner = _owner_url(compose)
    superuser = _env(services["postgres"])["POSTGRES_USER"]
    assert urlsplit(owner).username == superuser
    for name in SERVICES:
        env = _env(services[name])
        assert urlsplit(env["RW_DATABASE__URL"]).username not in (superuser, None), name
        # The audit trail's housekeeping alone, in reporting, connects as the owner.
        assert env.get("RW_AUDIT__OWNER_URL") == (owner if name == "reporting" else None), name
        assert owner not in {v for k, v in env.items() if k != "RW_AUDIT__OWNER_URL"}, name


def test_kafka_is_single_node_kraft_reachable_as_kafka_9092(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    env = _env(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    listeners = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert listeners["PLAINTEXT"] == "kafka:9092"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "PLAINTEXT"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert "kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])
    assert all(port.startswith("127.0.0.1:") for port in kafka.get("ports", []))


def test_postgres_has_the_database_a_volume_and_pg_isready(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    env = _env(postgres)
    assert env["POSTGRES_DB"] == "riskwatch"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume, _, target = postgres["volumes"][0].partition(":")
    assert volume in compose["volumes"]
    assert target == "/var/lib/postgresql"  # the 18 image keeps PGDATA below it
    assert all(port.startswith("127.0.0.1:") for port in postgres.get("ports", []))


def test_notify_keeps_its_data_dir_on_a_named_volume(compose: dict[str, Any]) -> None:
    notify = compose["services"]["notify"]
    data_dir = _env(notify)["RW_DATA_DIR"]
    mounts = dict(reversed(v.split(":", 1)) for v in notify["volumes"])
    assert mounts[data_dir] in compose["volumes"]
    assert data_dir not in notify.get("tmpfs", [])


def test_services_run_hardened(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        service = compose["services"][name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "/tmp" in service["tmpfs"], name  # noqa: S108 - a tmpfs mount point
