"""Use cases of devices' MQTT credentials. Callers own the transaction.

Each change bumps the `mqtt_credentials` change counter (ADR 0009) in its own transaction, so
the broker sync of any replica sees it at its next look (ADR 0020).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.audit.emit import AuditContext
from riskwatch.common.errors import Invalid, NotFound
from riskwatch.ingest.devices.cache import DEVICES
from riskwatch.ingest.devices.models import Device
from riskwatch.ingest.devices.service import get_device_or_raise
from riskwatch.ingest.models import generations
from riskwatch.ingest.mqtt.models import DeviceCredential
from riskwatch.ingest.mqtt.passwords import hash_password, new_password

# The change counter of this table; the broker sync also follows the devices' (a retired device
# loses its place in the password file).
CREDENTIALS = "mqtt_credentials"


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    device_id: str
    username: str
    password: str  # shown once: only its hash is kept
    created_at: datetime
    rotated_at: datetime


async def issue_credentials(
    session: AsyncSession,
    *,
    device_id: str,
    scope: Scope = DISTRICT,
    now: datetime | None = None,
    audit: AuditContext | None = None,
) -> IssuedCredentials:
    """A new password for the device (the first, or one replacing the last)."""
    await get_device_or_raise(session, device_id=device_id, scope=scope)
    if ":" in device_id:  # the broker's password file is `username:hash`, split at the ':'
        raise Invalid(
            f"Device {device_id!r} has a ':' in its id, which an MQTT username of Mosquitto's "
            "password file cannot have; it can send readings over HTTP.",
            field="device_id",
        )
    when = now or datetime.now(UTC)
    password = new_password()
    stmt = insert(DeviceCredential).values(
        device_id=device_id, password_hash=hash_password(password), created_at=when, rotated_at=when
    )
    row = (
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[DeviceCredential.device_id],
                set_={"password_hash": stmt.excluded.password_hash, "rotated_at": when},
            ).returning(DeviceCredential.created_at, DeviceCredential.rotated_at)
        )
    ).one()
    await generations.bump(session, CREDENTIALS)
    if audit is not None:  # the hash is not the trail's business: which device, and when
        audit.changed(None, {"device_id": device_id, "rotated_at": when})
    return IssuedCredentials(device_id, device_id, password, row.created_at, row.rotated_at)


async def revoke_credentials(
    session: AsyncSession,
    *,
    device_id: str,
    scope: Scope = DISTRICT,
    audit: AuditContext | None = None,
) -> None:
    """The device can no longer connect (at the broker's next reload); NotFound when it had
    no credentials."""
    await get_device_or_raise(session, device_id=device_id, scope=scope)
    deleted = await session.scalar(
        delete(DeviceCredential)
        .where(DeviceCredential.device_id == device_id)
        .returning(DeviceCredential.device_id)
    )
    if deleted is None:
        raise NotFound(f"Device {device_id!r} has no MQTT credentials.")
    await generations.bump(session, CREDENTIALS)
    if audit is not None:
        audit.changed({"device_id": device_id}, None)


async def broker_version(session: AsyncSession) -> tuple[int, int]:
    """What the broker's files depend on: the credentials' and the devices' change counters."""
    return (
        await generations.current(session, CREDENTIALS),
        await generations.current(session, DEVICES),
    )


async def broker_accounts(session: AsyncSession) -> list[tuple[str, str]]:
    """(username, hash) of every device that may connect: an active device with credentials."""
    rows = await session.execute(
        select(DeviceCredential.device_id, DeviceCredential.password_hash)
        .join(Device, Device.device_id == DeviceCredential.device_id)
        .where(Device.status == "active")
        .order_by(DeviceCredential.device_id)
    )
    return [(device_id, password_hash) for device_id, password_hash in rows]
