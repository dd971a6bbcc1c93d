"""Assemble FastAPI apps from service modules: one service alone, or all five in one process.

A `ServiceModule` declares its routers, the topics it uses, its migrations, and the background
components (consumers, outbox relay, loops) it runs on a `Runtime`. `build_app` wires the shared
parts once (engine, bus, auth, errors, health, metrics, logging), so a service's `create_app`
and the embedded platform differ only in which modules they pass and which bus they use.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import structlog
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from riskwatch.common.audit.emit import bind_outbox
from riskwatch.common.auth import TokenService
from riskwatch.common.background import Health
from riskwatch.common.bus import BatchHandler, Bus, TopicSpec, create_bus, subscribe
from riskwatch.common.catalog import Catalog, load_catalog
from riskwatch.common.db import create_engine, create_sessionmaker
from riskwatch.common.docs import install_docs
from riskwatch.common.edge import (
    BulkRoutes,
    docs_enabled,
    every_route_authenticates,
    install_edge,
    limit_account,
)
from riskwatch.common.errors import install_error_handlers
from riskwatch.common.events.topics import ACCOUNTS, AUDIT, dlq_topic
from riskwatch.common.health import CheckResult, ReadinessCheck, database_check
from riskwatch.common.health import named as named_check
from riskwatch.common.health import router as health_router
from riskwatch.common.http import RequestContextMiddleware
from riskwatch.common.inbox import Inbox
from riskwatch.common.logging import configure_logging
from riskwatch.common.outbox import Outbox
from riskwatch.common.principals import AccountCache, AccountSource, Principals
from riskwatch.common.settings import ServiceSettings

log = structlog.get_logger(__name__)

ComponentKind = Literal["consumer", "relay", "worker"]
T = TypeVar("T")


class Component(Protocol):
    """Something that runs in the background for the life of the process, supervised
    (riskwatch.common.background): `health.failed` once it gave up restarting."""

    health: Health

    @property
    def running(self) -> bool: ...
    async def start(self) -> None: ...
    async def stop(self, timeout: float = 10.0) -> None: ...


@dataclass(slots=True)
class Named:
    kind: ComponentKind
    name: str
    component: Component


@dataclass(slots=True)
class Runtime:
    """The shared infrastructure of one process, handed to every module."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # Consumers' sessions: a pool without pre-ping (a ping per checkout is a round trip per
    # batch, and consumers retry a broken connection as a transient failure anyway).
    consumer_engine: AsyncEngine
    consumer_sessions: async_sessionmaker[AsyncSession]
    bus: Bus
    catalog: Catalog
    # The app's tokens: the module hosting the issuer gives it its keys (identity module).
    tokens: TokenService
    extras: dict[str, object] = field(default_factory=dict)

    def singleton(self, cls: type[T], factory: Callable[[], T]) -> T:
        """The one `cls` of this process (made by `factory` on first use): a cache that routes
        and consumers share, and that never outlives the runtime's database."""
        key = f"{cls.__module__}.{cls.__qualname__}"
        found = self.extras.get(key)
        if found is None:
            found = self.extras[key] = factory()
        if not isinstance(found, cls):
            raise TypeError(f"{key} holds a {type(found).__name__}")
        return found


class ServiceModule(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def migrations_dir(self) -> Path | None: ...  # None: nothing of its own to migrate
    @property
    def settings(self) -> ServiceSettings: ...

    def routers(self) -> Sequence[APIRouter]: ...
    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]: ...
    async def components(self, runtime: Runtime) -> Sequence[Named]: ...


StartupHook = Callable[[Runtime], Awaitable[None]]


def consumer(
    runtime: Runtime, *, group: str, topics: Sequence[str], handler: BatchHandler
) -> Named:
    """A consumer component in `group`, with the process's consumer settings."""
    return Named(
        "consumer",
        group,
        subscribe(
            runtime.bus,
            group=group,
            topics=topics,
            handler=handler,
            settings=runtime.settings.consumer,
        ),
    )


def inbox_pruner(runtime: Runtime, inbox: Inbox, *, schema: str) -> Named:
    """Housekeeping of one schema's processed-event ids."""
    return Named("worker", f"{schema}-inbox-pruner", inbox.pruner(runtime.sessions, name=schema))


# Where `build_app` keeps the process's `AccountCache` in `Runtime.extras`.
ACCOUNT_CACHE = "riskwatch.account_cache"


def accounts_group(service: str) -> str:
    return f"{service}.accounts"


def accounts_topics(runtime: Runtime, *, service: str | None = None) -> list[TopicSpec]:
    """`rw.identity.accounts` (compacted: the latest snapshot of every account stays for a
    consumer group that starts later), and the dead letters of `service`'s accounts group."""
    specs = [TopicSpec(ACCOUNTS, runtime.settings.kafka.default_partitions, compacted=True)]
    if service is not None:
        specs.append(TopicSpec(dlq_topic(accounts_group(service)), 1))
    return specs


def accounts_consumer(
    runtime: Runtime, *, service: str, principals: Principals, inbox: Inbox
) -> Named:
    """The consumer group `<service>.accounts` that keeps `service`'s projection of accounts
    (ADR 0015); each batch it commits drops this process's account cache."""
    group = accounts_group(service)

    def forget() -> None:
        cache = runtime.extras.get(ACCOUNT_CACHE)
        if isinstance(cache, AccountCache):
            cache.clear()

    return consumer(
        runtime,
        group=group,
        topics=[ACCOUNTS],
        handler=inbox.batch_handler(
            runtime.consumer_sessions, group=group, handle=principals.handle, after_commit=forget
        ),
    )


def relay(runtime: Runtime, outbox: Outbox) -> Named:
    """The outbox relay component of one service schema."""
    return Named(
        "relay",
        f"{outbox.schema}-outbox",
        outbox.relay(
            runtime.sessions,
            runtime.bus,
            dsn=runtime.settings.database.url,
            poll_interval_s=runtime.settings.outbox_poll_interval_s,
        ),
    )


def build_app(
    *,
    title: str,
    settings: ServiceSettings,
    modules: Sequence[ServiceModule],
    bus: Bus | None = None,
    extra_routers: Sequence[APIRouter] = (),
    on_startup: Sequence[StartupHook] = (),
    description: str = "",
    on_component_failed: Callable[[], None] | None = None,
    accounts: AccountSource | None = None,
) -> FastAPI:
    """An app with the modules' routers and a lifespan that runs their components.

    Tokens are checked against `accounts`, by default the projection of the first module
    that keeps one (its `principals`); an app with neither refuses every token.

    A component that gives up restarting calls `on_component_failed`; by default the process
    stops itself (SIGTERM, a graceful stop) so that its orchestrator starts a fresh one.
    """
    on_component_failed = on_component_failed or _stop_this_process

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(level=settings.log_level, json=settings.log_json)
        engine = create_engine(settings.database)
        consumer_engine = create_engine(
            settings.database,
            pool_pre_ping=False,
            pool_size=settings.database.consumer_pool_size,
            max_overflow=settings.database.max_overflow,
        )
        the_bus = bus if bus is not None else create_bus(settings)
        runtime = Runtime(
            settings=settings,
            engine=engine,
            sessions=create_sessionmaker(engine),
            consumer_engine=consumer_engine,
            consumer_sessions=create_sessionmaker(consumer_engine),
            bus=the_bus,
            catalog=load_catalog(settings.catalog_path),
            tokens=app.state.tokens,
        )
        app.state.runtime = runtime
        app.state.sessions = runtime.sessions
        app.state.catalog = runtime.catalog
        app.state.principals = accounts or _account_cache(modules, runtime)
        started: list[Named] = []
        try:
            await _retry("bus", the_bus.start)
            topics = {t.name: t for m in modules for t in m.topics(runtime)}
            # Every process may record in the audit trail (riskwatch.common.audit.emit).
            topics.setdefault(AUDIT, TopicSpec(AUDIT, settings.kafka.default_partitions))
            await _retry("topics", lambda: the_bus.ensure_topics(list(topics.values())))
            for hook in on_startup:
                await hook(runtime)
            wanted = _kinds(settings.role)
            named = [n for m in modules for n in await m.components(runtime) if n.kind in wanted]
            # Consumers first: on the in-process bus a group must exist before records it
            # should see are published, or the outbox would count them as delivered.
            named.sort(key=lambda n: {"consumer": 0, "worker": 1, "relay": 2}[n.kind])
            for item in named:
                item.component.health.on_failed = on_component_failed
                await item.component.start()
                started.append(item)
            app.state.components = started
            app.state.failed_components = lambda: [
                n.name for n in started if n.component.health.failed
            ]
            _tune_gc()
            app.state.readiness_checks = [
                database_check(engine),
                named_check("bus", bus_check(the_bus)),
                _components_check(started),
            ]
            app.state.started = True
            log.info(
                "service_started",
                service=settings.service_name,
                role=settings.role,
                components=[n.name for n in started],
            )
            yield
        finally:
            app.state.started = False
            # Consumers, then workers, then relays: the last events staged still go out.
            for kind in ("consumer", "worker", "relay"):
                await asyncio.gather(*(_stop(item) for item in started if item.kind == kind))
            await the_bus.stop()
            await consumer_engine.dispose()
            await engine.dispose()
            log.info("service_stopped", service=settings.service_name)

    docs = docs_enabled(settings)
    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        # The pages come from this process's own files (riskwatch.common.docs), never a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    app.state.service_settings = {m.name: m.settings for m in modules}
    app.state.tokens = TokenService(settings.auth)
    app.state.principals = accounts
    app.state.started = False
    install_error_handlers(app)
    install_edge(app, settings.http, bulk_routes=_bulk_routes(modules))
    app.add_middleware(RequestContextMiddleware)  # outermost: refusals have a request id too
    if docs:
        install_docs(app)
    app.include_router(health_router)
    for module in modules:
        # Where the module's writes stage their audit records (deps.session_in_transaction).
        bind = Depends(bind_outbox(getattr(module, "outbox", None)))
        for router in module.routers():
            # Behind a token, the caller's requests are counted (edge.limit_account); a router
            # with an open route (logging in) is limited per address only.
            limited = [Depends(limit_account)] if every_route_authenticates(router) else []
            app.include_router(router, dependencies=[bind, *limited])
    for router in extra_routers:
        app.include_router(router)
    return app


def _bulk_routes(modules: Sequence[ServiceModule]) -> BulkRoutes:
    """The routes of machines' bulk data that modules declare (`bulk_routes()`, optional):
    their own body limits, metered by their own admission (riskwatch.common.edge)."""
    found: dict[tuple[str, str], int] = {}
    for module in modules:
        declared: Callable[[], BulkRoutes] | None = getattr(module, "bulk_routes", None)
        if declared is not None:
            found.update(declared())
    return found


def _account_cache(modules: Sequence[ServiceModule], runtime: Runtime) -> AccountCache | None:
    """One lookup per process, on the first module's projection: every projection of a
    process (the embedded platform has five) is fed by the same events."""
    for module in modules:
        principals = getattr(module, "principals", None)
        if isinstance(principals, Principals):
            cache = AccountCache(principals, runtime.sessions)
            runtime.extras[ACCOUNT_CACHE] = cache
            return cache
    return None


def _tune_gc() -> None:
    """Keep the cyclic garbage collector off the hot paths (bench/README.md, "Garbage").

    Every full collection walks every tracked object, yet a service's start-up heap (modules,
    mappers, compiled schemas) never becomes garbage, and decoding a batch allocates thousands
    of short-lived objects that triggered full collection after full collection. So: move the
    start-up heap out of the collector's sight, and collect the youngest generation every
    10,000 allocations instead of every 700.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(10_000, gen1, gen2)


async def _stop(item: Named) -> None:
    try:
        await item.component.stop()
    except Exception:
        log.warning("component_stop_failed", component=item.name, exc_info=True)


def _kinds(role: str) -> set[ComponentKind]:
    if role == "api":
        return {"relay"}
    return {"consumer", "relay", "worker"}


def _components_check(components: list[Named]) -> ReadinessCheck:
    async def check() -> CheckResult:
        stopped = [n.name for n in components if not n.component.running]
        return CheckResult("components", not stopped, ", ".join(stopped) or None)

    return check


def bus_check(bus: Bus) -> ReadinessCheck:
    async def check() -> CheckResult:
        await bus.check()
        return CheckResult("bus", True)

    return check


def _stop_this_process() -> None:
    log.critical("stopping_process", reason="a background component keeps failing")
    os.kill(os.getpid(), signal.SIGTERM)


async def _retry(what: str, action: Callable[[], Awaitable[None]], *, attempts: int = 30) -> None:
    """Infrastructure may come up after us (a broker restarting): wait for it, then give up."""
    for attempt in range(1, attempts + 1):
        try:
            await action()
            return
        except Exception:
            if attempt == attempts:
                raise
            log.warning("startup_retry", what=what, attempt=attempt, exc_info=True)
            await asyncio.sleep(min(5.0, 0.2 * attempt))
