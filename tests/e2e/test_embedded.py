"""End to end in the embedded mode, as a user runs it: `riskwatch run` as its own process,
with PostgreSQL from the wheel in a fresh data directory; then a restart keeps the data."""

from __future__ import annotations

import secrets
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from riskwatch.devstack._util import free_port
from riskwatch.devstack.procs import ServiceProcess

from .scenario import People, Urls, login, run_one_path

pytestmark = pytest.mark.e2e


class Embedded:
    def __init__(self, data_dir: Path, port: int, password: str) -> None:
        self.data_dir, self.port, self.password = data_dir, port, password
        self.url = f"http://127.0.0.1:{port}"
        self.process: ServiceProcess | None = None

    def start(self) -> None:
        self.process = ServiceProcess(
            "riskwatch",
            [str(Path(sys.executable).with_name("riskwatch")), "run", "--no-simulate"],
            env={
                "RW_DATA_DIR": str(self.data_dir),
                "RW_PORT": str(self.port),
                "RW_ADMIN_PASSWORD": self.password,
                "RW_DEMO_PASSWORD": self.password,
                "RW_OUTBOX_POLL_INTERVAL_S": "0.2",
                "RW_LOG_LEVEL": "INFO",
                "PATH": str(Path(sys.executable).parent),
            },
            log_path=self.data_dir.parent / f"riskwatch-{self.port}.log",
            ready_url=f"{self.url}/readyz",
        )
        self.process.start()
        self.process.wait_ready(120)

    def stop(self) -> int | None:
        assert self.process is not None
        return self.process.stop(timeout=60)


@pytest.fixture(scope="module")
def embedded() -> Iterator[Embedded]:
    root = Path(tempfile.mkdtemp(prefix="rw-embedded-"))
    platform = Embedded(root / "data", free_port(), secrets.token_urlsafe(12))
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()


async def test_one_reading_crosses_every_service_in_one_process(embedded: Embedded) -> None:
    urls = Urls.single(embedded.url)
    headers = await login(urls, embedded.password)
    alarm_id = await run_one_path(urls, await People.login(urls, embedded.password))

    # The demo data was seeded at start: devices and rules are there without a simulator.
    async with httpx.AsyncClient(base_url=embedded.url, headers=headers) as client:
        rules = (await client.get("/api/v1/rules", params={"limit": 100})).json()["items"]
        assert {"gas-ch4-lel", "bridge-deflection"} <= {r["rule_id"] for r in rules}

    # A restart keeps the data: stop (SIGTERM, graceful), start on the same data dir.
    assert embedded.stop() == 0
    embedded.start()
    async with httpx.AsyncClient(base_url=embedded.url, headers=headers) as client:
        alarm = await client.get(f"/api/v1/alarms/{alarm_id}")
        assert alarm.status_code == 200  # the token too survived: the signing keys are kept
        assert alarm.json()["status"] == "cleared"
        report = (await client.get(f"/api/v1/reports/alarms/{alarm_id}")).json()
        assert report["alarm"]["status"] == "cleared"
