"""HTTP API of devices' MQTT credentials: issue (or rotate) and revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import AuditDep, SessionDep
from riskwatch.common.errors import problem_responses
from riskwatch.ingest.devices.schemas import DEVICE_ID_PATTERN
from riskwatch.ingest.mqtt import service
from riskwatch.ingest.mqtt.domain import telemetry_topic
from riskwatch.ingest.mqtt.schemas import MqttCredentialsRead

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])

DeviceId = Annotated[str, Path(pattern=DEVICE_ID_PATTERN)]
Writer = Annotated[Principal, Depends(require(Permission.DEVICES_WRITE))]


@router.put(
    "/{device_id}/mqtt-credentials",
    response_model=MqttCredentialsRead,
    responses=problem_responses(404, 422),
)
async def put_mqtt_credentials(
    device_id: DeviceId, session: SessionDep, caller: Writer, audit: AuditDep
) -> MqttCredentialsRead:
    """Give the device a new random MQTT password, replacing the last one. The answer is the
    only place it is shown; the broker takes it within a second or two (its next sync)."""
    issued = await service.issue_credentials(
        session, device_id=device_id, scope=caller.scope, audit=audit
    )
    return MqttCredentialsRead(
        device_id=issued.device_id,
        username=issued.username,
        password=issued.password,
        topic=telemetry_topic(issued.device_id),
        created_at=issued.created_at,
        rotated_at=issued.rotated_at,
    )


@router.delete(
    "/{device_id}/mqtt-credentials",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(404),
)
async def delete_mqtt_credentials(
    device_id: DeviceId, session: SessionDep, caller: Writer, audit: AuditDep
) -> Response:
    """Revoke the device's MQTT credentials: its next connect is refused."""
    await service.revoke_credentials(session, device_id=device_id, scope=caller.scope, audit=audit)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
