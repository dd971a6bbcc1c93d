"""The fault suite's stack and what the cases do to it.

`Rig` is one distributed stack started as the benchmark starts it (devstack's `Stack` on free
ports: PostgreSQL, a KRaft Kafka broker, the five services as OS processes, with
RW_ENV=development, RW_SEED_DEMO_ROSTER=true, a random admin and demo password, RW_LOG_LEVEL=WARNING
and RW_SECTORS=construction, notify's storm caps lifted), except that the services reach PostgreSQL
through a `PgFaultProxy` that the suite can turn into a database refusing connections. The rig logs
in as `simulator` and puts the suite's rule on gas/ch4_lel (blue 10, yellow 20, orange 25, red 50).

Blocking fault actions (starting a service, the broker, the server) run in one thread that
lives as long as the rig: the stack's processes die with the thread that started them
(`die_with_parent`), and the event loop keeps the load going meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx

from riskwatch.common.testing import admitted_by_all
from riskwatch.devstack._util import free_port
from riskwatch.devstack.pgproxy import PgFaultProxy
from riskwatch.devstack.supervisor import SERVICES, Stack, StackConfig

T = TypeVar("T")

SECTOR = "construction"
READINGS_TOPIC = f"rw.{SECTOR}.readings"
ALERTING_DLQ = f"rw.dlq.alerting.{SECTOR}"
RULE_ID = "fault-ch4-lel"
RULE = {
    "name": "Fault suite: methane in gas wells",
    "scenario_id": "gas",
    "metric": "ch4_lel",
    "direction": "above",
    "unit": "%LEL",
    "blue": 10.0,
    "yellow": 20.0,
    "orange": 25.0,
    "red": 50.0,
}
# The towns the demo roster staffs: each alarm's first notices (step 0 of its escalation) reach
# a street, the sector and the district duty center, one person on duty in each, in the app and
# by SMS. The later steps of the default red policy (+3 min a call to the same people, +10 min the
# department head, ...) add notifications of their own to the same alarm; the counts are of
# step 0, round 0 (`FIRST_NOTICE`).
TOWNS = ("lujiazui", "zhangjiang", "chuansha", "huinan")
NOTIFICATIONS_PER_ALARM = 6
SMS_PER_ALARM = 3
FIRST_NOTICE = (0, 0)  # (step, round) of an alarm's first notices
# A demo account holding duty:manage over the whole district: it edits escalation policies.
POLICY_EDITOR = "operator"
ESCALATION_POLICIES = "/api/v1/escalation-policies"
# Notify's storm control caps SMS and calls per recipient (RW_STORM_*). The suite sends hundreds of
# alarms to the three demo people on duty, so caps would hold back most later escalation steps,
# depending on what earlier cases sent; the suite measures recovery and exactly-once delivery, not
# storms (notify's own tests do), so each case's notifications are its own: caps out of reach.
UNCAPPED = str(1_000_000)
SERVICE_NAMES = tuple(s.name for s in SERVICES)


def _distinct_ports(n: int) -> list[int]:
    chosen: list[int] = []
    while len(chosen) < n:
        port = free_port()
        if port not in chosen:
            chosen.append(port)
    return chosen


class Rig:
    """A started stack, its proxy, a token of the demo's `simulator` and the suite's rule."""

    def __init__(self, state_dir: Path) -> None:
        ports = _distinct_ports(4 + len(SERVICES))
        self.password = secrets.token_urlsafe(12)
        self.proxy = PgFaultProxy(upstream_port=ports[0], port=ports[3])
        database = "riskwatch"
        env = {
            "RW_ENV": "development",
            "RW_SEED_DEMO_ROSTER": "true",
            "RW_ADMIN_PASSWORD": self.password,
            "RW_DEMO_PASSWORD": self.password,
            "RW_LOG_LEVEL": "WARNING",
            # The suite logs in once: its token must outlast every scenario.
            "RW_AUTH__ACCESS_TOKEN_TTL_S": "14400",
            "RW_SECTORS": SECTOR,
            "RW_STORM_SMS_PER_WINDOW": UNCAPPED,
            "RW_STORM_SMS_PER_DAY": UNCAPPED,
            "RW_STORM_VOICE_PER_WINDOW": UNCAPPED,
            "RW_STORM_VOICE_PER_DAY": UNCAPPED,
        }
        self.stack = Stack(
            StackConfig(
                state_dir=state_dir,
                services=tuple(
                    replace(s, port=p) for s, p in zip(SERVICES, ports[4:], strict=True)
                ),
                pg_port=ports[0],
                # Every service (and its migration) reaches PostgreSQL through the proxy, each
                # as its own role: the services as theirs, the migrations as the owner.
                pg_proxy_port=ports[3],
                kafka_port=ports[1],
                kafka_controller_port=ports[2],
                database=database,
                env=env,
                inherit_rw_env=False,
                ready_timeout=180.0,
                die_with_parent=True,
            )
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fault-actions")
        self.token = ""

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.proxy.start()
        # Started from the actions thread too: the processes live as long as that thread.
        self._executor.submit(self.stack.start).result()
        self.token = self._login("simulator")
        # Every service knows the account once its snapshot arrived there (ADR 0015).
        probes = {n: self.stack.base_url(n) for n in SERVICE_NAMES}
        asyncio.run(admitted_by_all(probes, self.headers))
        self._put_rule()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._executor.submit(self.stack.stop).result(timeout=300)
        self.stack.stop()  # again from here, in case the thread could not
        self._executor.shutdown(wait=True)
        self.proxy.stop()

    def prune(self) -> None:
        """Drop the bulky data of the stopped stack (PostgreSQL and Kafka), keep the logs."""
        state = self.stack.state_dir
        with contextlib.suppress(OSError):
            shutil.copy(state / "pg" / "log", state / "logs" / "pg.log")
        shutil.rmtree(state / "pg", ignore_errors=True)
        shutil.rmtree(state / "kafka" / "kraft-logs", ignore_errors=True)

    # -- what the cases use ---------------------------------------------------------------

    @property
    def dsn(self) -> str:
        """libpq URL of the platform's database, straight to the server (not the proxy)."""
        return self.stack.database_url.replace("postgresql+asyncpg", "postgresql")

    @property
    def ingest_url(self) -> str:
        return self.stack.base_url("ingest")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def sms_file(self) -> Path:
        """Where notify's file SMS provider writes: RW_SMS_FILE, else in its RW_DATA_DIR."""
        return self._notify_file("RW_SMS_FILE", "sms-outbox.jsonl")

    @property
    def voice_file(self) -> Path:
        """Where notify's file voice provider writes: RW_VOICE_FILE, else in its RW_DATA_DIR."""
        return self._notify_file("RW_VOICE_FILE", "voice-outbox.jsonl")

    def _notify_file(self, setting: str, default_name: str) -> Path:
        notify = next(s for s in self.stack.config.services if s.name == "notify")
        env = self.stack.service_env(notify)
        explicit = env.get(setting)
        return Path(explicit) if explicit else Path(env["RW_DATA_DIR"]) / default_name

    def log_of(self, service: str) -> Path:
        return self.stack.logs_dir / f"{service}.log"

    async def act(self, action: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking stack action in the actions thread without stalling the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: action(*args, **kwargs))

    async def kill(self, service: str) -> None:
        await self.act(self.stack.kill_service, service)

    async def start_service(self, service: str) -> None:
        await self.act(self.stack.start_service, service)

    def freeze(self, *services: str) -> None:
        for service in services:
            self.stack.signal_service(service, signal.SIGSTOP)

    def thaw(self, *services: str) -> None:
        for service in services:
            self.stack.signal_service(service, signal.SIGCONT)

    async def health(self, timeout: float) -> list[str]:
        """Wait until every service is alive and answers /readyz and /livez with 200; the
        problems left when `timeout` ran out (empty: healthy)."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            while True:
                problems = await self._health_problems(client)
                if not problems or time.monotonic() >= deadline:
                    return problems
                await asyncio.sleep(1.0)

    async def _health_problems(self, client: httpx.AsyncClient) -> list[str]:
        problems: list[str] = []
        for name in SERVICE_NAMES:
            proc = self.stack.processes.get(name)
            if proc is None or not proc.is_alive():
                code = None if proc is None else proc.returncode
                problems.append(
                    f"{name} is not running (exit code {code}), log {self.log_of(name)}"
                )
                continue
            for probe in ("/readyz", "/livez"):
                try:
                    response = await client.get(self.stack.base_url(name) + probe)
                except httpx.HTTPError as exc:
                    problems.append(f"{name} {probe}: {type(exc).__name__}")
                    continue
                if response.status_code != 200:
                    problems.append(f"{name} {probe}: {response.status_code} {response.text[:300]}")
        if self.stack.kafka is None or not self.stack.kafka.is_running():
            problems.append("the Kafka broker is not running")
        if self.stack.postgres is None or not self.stack.postgres.is_running():
            problems.append("PostgreSQL is not running")
        if self.proxy.refusing:
            problems.append("the PostgreSQL proxy still refuses connections")
        return problems

    async def register(self, device_ids: list[str], *, site: str) -> None:
        """PUT each device (a gas well in one of the staffed towns), 8 at a time."""
        gate = asyncio.Semaphore(8)
        async with httpx.AsyncClient(
            base_url=self.ingest_url, headers=self.headers, timeout=60, trust_env=False
        ) as client:

            async def put(i: int, device_id: str) -> None:
                body = {
                    "name": f"{site} {i}",
                    "scenario_id": "gas",
                    "town_id": TOWNS[i % len(TOWNS)],
                    "site": f"{site} {i}",
                }
                async with gate:
                    response = await client.put(f"/api/v1/devices/{device_id}", json=body)
                if response.status_code not in (200, 201):
                    raise AssertionError(
                        f"PUT device {device_id}: {response.status_code} {response.text[:300]}"
                    )

            await asyncio.gather(*(put(i, d) for i, d in enumerate(device_ids)))

    async def editor_headers(self) -> dict[str, str]:
        """Headers of `POLICY_EDITOR`, once notify knows the account (ADR 0015)."""
        token = await asyncio.to_thread(self._login, POLICY_EDITOR)
        headers = {"Authorization": f"Bearer {token}"}
        await admitted_by_all({"notify": self.stack.base_url("notify")}, headers)
        return headers

    async def escalation_policies(self, headers: dict[str, str]) -> dict[str, Any]:
        """The escalation policies in force (GET, as notify answers it)."""
        async with httpx.AsyncClient(
            base_url=self.stack.base_url("notify"), headers=headers, timeout=30, trust_env=False
        ) as client:
            response = await client.get(ESCALATION_POLICIES)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def put_escalation_policies(
        self, headers: dict[str, str], policies: dict[str, Any]
    ) -> int:
        """A new version of the escalation policies (levels left out keep theirs); its number.
        Escalations started before keep the version they started with."""
        async with httpx.AsyncClient(
            base_url=self.stack.base_url("notify"), headers=headers, timeout=30, trust_env=False
        ) as client:
            response = await client.put(ESCALATION_POLICIES, json={"policies": policies})
        assert response.status_code == 200, response.text
        version: int = response.json()["version"]
        return version

    # -- set-up ---------------------------------------------------------------------------

    def _login(self, username: str) -> str:
        response = httpx.post(
            self.ingest_url + "/api/v1/auth/token",
            data={"username": username, "password": self.password},
            timeout=30,
            trust_env=False,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def _put_rule(self) -> None:
        """The suite's rule, and no other enabled rule on gas/ch4_lel: one alarm per breach."""
        base = self.stack.base_url("alerting")
        with httpx.Client(
            base_url=base, headers=self.headers, timeout=30, trust_env=False
        ) as client:
            response = client.put(f"/api/v1/rules/{RULE_ID}", json=RULE)
            assert response.status_code in (200, 201), response.text
            params: dict[str, Any] = {"scenario_id": "gas", "metric": "ch4_lel"}
            fields = [*RULE, "description"]
            while True:
                page = client.get("/api/v1/rules", params=params).raise_for_status().json()
                for rule in page["items"]:
                    if rule["enabled"] and rule["rule_id"] != RULE_ID:
                        body = {k: rule[k] for k in fields if k in rule} | {"enabled": False}
                        client.put(f"/api/v1/rules/{rule['rule_id']}", json=body).raise_for_status()
                if not page.get("next_cursor"):
                    break
                params["cursor"] = page["next_cursor"]


@contextlib.contextmanager
def started_rig() -> Iterator[Rig]:
    """A started rig in a fresh state dir, stopped (and its bulky data dropped) at the end."""
    # mkdtemp, not tmp_path: PostgreSQL's unprivileged user must be able to reach the dir.
    state_dir = Path(tempfile.mkdtemp(prefix="rw-fault-"))
    rig = Rig(state_dir)
    try:
        rig.start()
        yield rig
    finally:
        rig.stop()
        rig.prune()


class Database:
    """The test's own connection to the platform's database, straight to the server, opened
    again after the server went away."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: asyncpg.Connection | None = None

    async def fetchrow(self, sql: str, *args: object) -> asyncpg.Record | None:
        conn = await self._connection()
        try:
            row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
        except Exception:  # whatever it was, the next query starts on a fresh connection
            await self.close()
            raise
        return row

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await self._connection()
        try:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        except Exception:  # whatever it was, the next query starts on a fresh connection
            await self.close()
            raise
        return rows

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.dsn, timeout=10)
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                conn.terminate()


# What the test's own queries may meet while a case has the database down.
DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def dump_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    tmp.replace(path)
