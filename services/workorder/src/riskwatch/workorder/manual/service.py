"""Use cases of the command manual: draft a version, approve it (a department head other than
its author), read versions, and find the entry an order follows. Callers own the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.audit.emit import AuditContext
from riskwatch.common.catalog import Catalog
from riskwatch.common.errors import Forbidden, Invalid, InvalidState, NotFound
from riskwatch.workorder.manual.domain import ManualBody, ManualEntry, manual_problems
from riskwatch.workorder.manual.models import ManualVersion

DEMO_MANUAL = Path(__file__).with_name("demo.yaml")
DEMO_REVIEWER = "demo-seed"


@dataclass(frozen=True, slots=True)
class ActiveManual:
    version: int
    entries: list[ManualEntry]


class ManualCache:
    """The approved manual in force, parsed once per version: a lookup per order costs one
    indexed `max(version)` query, not a JSONB parse."""

    def __init__(self) -> None:
        self._active: ActiveManual | None = None

    async def active(self, session: AsyncSession) -> ActiveManual | None:
        version = await session.scalar(
            select(func.max(ManualVersion.version)).where(ManualVersion.status == "approved")
        )
        if version is None:
            return None
        if self._active is None or self._active.version != version:
            row = await get_version(session, version)
            entries = [ManualEntry.model_validate(e) for e in row.entries]
            self._active = ActiveManual(version, entries)
        return self._active


def parse_manual(text: str | bytes) -> ManualBody:
    """A manual file (YAML or JSON, which is YAML) as a body; Invalid with every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise Invalid(f"Not a YAML or JSON document: {exc}") from exc
    try:
        return ManualBody.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:50]]
        raise Invalid("The command manual is not valid.", problems=problems) from exc


async def draft(
    session: AsyncSession,
    *,
    body: ManualBody,
    catalog: Catalog,
    actor: str,
    now: datetime,
    audit: AuditContext | None = None,
) -> ManualVersion:
    """Save `body` as the next version, a draft: nothing applies until it is approved."""
    problems = manual_problems(body, catalog)
    if problems:
        raise Invalid("The command manual is not valid.", problems=problems)
    # Version numbers are handed out one draft at a time (the lock ends with the transaction).
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("command_manual"))))
    latest = await session.scalar(select(func.max(ManualVersion.version)))
    row = ManualVersion(
        version=(latest or 0) + 1,
        status="draft",
        note=body.note,
        entries=[e.model_dump(mode="json") for e in body.entries],
        created_by=actor,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    if audit is not None:
        audit.changed(None, {"version": row.version, "entries": len(body.entries)})
    return row


async def approve(
    session: AsyncSession,
    *,
    version: int,
    actor: str,
    note: str | None,
    now: datetime,
    audit: AuditContext | None = None,
) -> ManualVersion:
    """A department head reviews a draft and puts it in force; the one before is superseded.
    Nobody approves their own draft."""
    row = await session.get(ManualVersion, version, with_for_update=True)
    if row is None:
        raise NotFound(f"No command manual version {version}.")
    if row.status != "draft":
        raise InvalidState(f"Version {version} is {row.status}; only a draft is approved.")
    if row.created_by == actor:
        raise Forbidden("The author of a command manual version cannot approve it.")
    await session.execute(
        update(ManualVersion).where(ManualVersion.status == "approved").values(status="superseded")
    )
    row.status = "approved"
    row.reviewed_by, row.reviewed_at, row.review_note = actor, now, note
    await session.flush()
    if audit is not None:
        audit.changed({"version": version, "status": "draft"}, {"status": "approved"})
    return row


async def list_versions(session: AsyncSession) -> list[ManualVersion]:
    stmt = select(ManualVersion).order_by(ManualVersion.version.desc())
    return list((await session.scalars(stmt)).all())


async def get_version(session: AsyncSession, version: int) -> ManualVersion:
    row = await session.get(ManualVersion, version)
    if row is None:
        raise NotFound(f"No command manual version {version}.")
    return row


async def current(session: AsyncSession) -> ManualVersion:
    version = await session.scalar(
        select(func.max(ManualVersion.version)).where(ManualVersion.status == "approved")
    )
    if version is None:
        raise NotFound("No command manual is approved yet.")
    return await get_version(session, version)


async def seed_demo_manual(session: AsyncSession, *, catalog: Catalog, now: datetime) -> bool:
    """The demo's manual, in force at once, when no manual exists: a district drafts its own
    and a department head approves it. False when there was one already."""
    if await session.scalar(select(func.count()).select_from(ManualVersion)):
        return False
    body = parse_manual(DEMO_MANUAL.read_text(encoding="utf-8"))
    row = await draft(session, body=body, catalog=catalog, actor=DEMO_REVIEWER, now=now)
    row.status = "approved"
    row.reviewed_by, row.reviewed_at = DEMO_REVIEWER, now
    row.review_note = "the demo's manual, shipped approved"
    await session.flush()
    return True
