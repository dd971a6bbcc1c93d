"""The per-service Dockerfiles: right package, console script and port; no drift between them."""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import re
import tomllib
from pathlib import Path

import pytest

from riskwatch.common.settings import ServiceSettings

SERVICES = ("ingest", "alerting", "workorder", "notify", "reporting")


def _dockerfile(root: Path, name: str) -> str:
    return (root / "services" / name / "Dockerfile").read_text(encoding="utf-8")


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, rest = stripped.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def _stages(text: str) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions(text):
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _workspace_members_needed(root: Path, package: str) -> set[str]:
    """Directories of the workspace members `package` needs, by the lock (itself included)."""
    lock = tomllib.loads((root / "uv.lock").read_text(encoding="utf-8"))
    packages = {p["name"]: p for p in lock["package"]}
    needed: set[str] = set()
    todo = [package]
    while todo:
        name = todo.pop()
        entry = packages[name]
        source = entry.get("source", {})
        location = source.get("editable") or source.get("directory") or source.get("virtual")
        if location is None:
            continue  # a third-party package: installed from the lock, nothing to copy
        if location in needed:
            continue
        needed.add(location)
        todo.extend(dep["name"] for dep in entry.get("dependencies", []))
    return needed


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_names_its_package_script_and_port(
    root: Path, service_ports: dict[str, int], name: str
) -> None:
    text = _dockerfile(root, name)
    port = service_ports[name]
    runtime = _stages(text)[-1]
    runtime_keys = dict(runtime)

    assert f"--package riskwatch-{name}" in text
    assert f'ENTRYPOINT ["riskwatch-{name}"]' in text
    assert runtime_keys["ENTRYPOINT"] == f'["riskwatch-{name}"]'
    assert runtime_keys["CMD"] == '["serve"]'
    assert runtime_keys["EXPOSE"] == str(port)
    assert f"RW_PORT={port}" in runtime_keys["ENV"]
    assert "RW_HOST=0.0.0.0" in runtime_keys["ENV"]
    assert "RW_ENV=production" in runtime_keys["ENV"]
    # The script and package the Dockerfile names are the ones the service declares.
    project = tomllib.loads((root / "services" / name / "pyproject.toml").read_text("utf-8"))
    assert project["project"]["name"] == f"riskwatch-{name}"
    assert f"riskwatch-{name}" in project["project"]["scripts"]


@pytest.mark.parametrize("name", SERVICES)
def test_deployed_port_is_the_service_settings_default(
    service_ports: dict[str, int], name: str
) -> None:
    module = importlib.import_module(f"riskwatch.{name}.settings")
    (settings,) = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, ServiceSettings) and cls.__module__ == module.__name__
    ]
    assert settings.model_fields["port"].default == service_ports[name]
    assert settings.model_fields["service_name"].default == name


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_builds_with_uv_and_runs_unprivileged(root: Path, name: str) -> None:
    text = _dockerfile(root, name)
    stages = _stages(text)
    assert len(stages) >= 3, "uv, builder and runtime stages"
    assert "ghcr.io/astral-sh/uv:" in stages[0][0][1]
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.MULTILINE)
    builder = "\n".join(f"{k} {v}" for k, v in stages[1])
    assert "COPY --from=uv /uv" in builder
    assert f"uv sync --frozen --no-dev --package riskwatch-{name}" in builder
    runtime = stages[-1]
    user = [v for k, v in runtime if k == "USER"]
    assert user, "the runtime stage sets a user"
    uid = user[-1].split(":")[0]
    assert uid.isdigit(), "numeric uid, so Kubernetes can check runAsNonRoot"
    assert int(uid) != 0
    healthcheck = dict(runtime)["HEALTHCHECK"]
    assert "/healthz" in healthcheck
    assert "CMD" in healthcheck


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_copies_what_the_lock_needs_and_nothing_ignored(root: Path, name: str) -> None:
    text = _dockerfile(root, name)
    copies = [
        args.split()
        for keyword, args in _instructions(text)
        if keyword == "COPY" and not args.startswith("--from")
    ]
    sources = [part for args in copies for part in args[:-1]]
    for source in sources:
        assert (root / source).exists(), f"COPY {source}: no such path in the build context"
        assert not _dockerignored(root, source), f"COPY {source}: excluded by .dockerignore"
    copied_dirs = {s for s in sources if (root / s).is_dir()}
    members = _workspace_members_needed(root, f"riskwatch-{name}")
    assert members - {"."} == copied_dirs, "exactly the workspace members the lock requires"
    for member in members - {"."}:
        assert f"{member}/pyproject.toml" in sources, f"{member}: its pyproject for the deps layer"
    assert {"pyproject.toml", "uv.lock"} <= set(sources)


def _dockerignored(root: Path, path: str) -> bool:
    """Whether .dockerignore excludes `path` (or a parent), with its `!` exceptions."""
    patterns = [
        line.strip()
        for line in (root / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        hit = any(
            fnmatch.fnmatchcase(candidate, glob)
            or (glob.startswith("**/") and fnmatch.fnmatchcase(candidate, glob[3:]))
            or (glob.startswith("**/") and fnmatch.fnmatchcase(candidate, "*/" + glob[3:]))
            for candidate in candidates
        )
        if hit:
            excluded = not negate
    return excluded


def test_dockerignore_keeps_local_state_out(root: Path) -> None:
    for path in (
        ".venv",
        "libs/common/.venv",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "libs/common/src/riskwatch/common/__pycache__",
        ".riskwatch",
        ".devstack",
        "bench/results",
        ".git",
        "services/ingest/tests",
    ):
        assert _dockerignored(root, path), path
    for path in ("pyproject.toml", "uv.lock", "libs/common/src", "services/notify/migrations"):
        assert not _dockerignored(root, path), path


def test_dockerfiles_differ_only_in_name_and_port(
    root: Path, service_ports: dict[str, int]
) -> None:
    """Five copies on purpose (a literal ENTRYPOINT each); this keeps them from drifting."""
    normalised = {
        name: _dockerfile(root, name)
        .replace(name, "<service>")
        .replace(str(service_ports[name]), "<port>")
        for name in SERVICES
    }
    reference = normalised["alerting"]
    for name, text in normalised.items():
        assert text == reference, f"services/{name}/Dockerfile drifted from alerting's"
