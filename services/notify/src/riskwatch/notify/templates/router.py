"""HTTP API of message templates: list, read, edit, reset and preview the texts notices are
written from, per key, channel and locale."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import AuditDep, ReadSessionDep, SessionDep
from riskwatch.common.errors import Forbidden, problem_responses
from riskwatch.notify.notifications.domain import ChannelKind
from riskwatch.notify.templates import service
from riskwatch.notify.templates.domain import (
    VARIABLES,
    Locale,
    Template,
    TemplateKey,
    sample_variables,
)
from riskwatch.notify.templates.schemas import (
    TemplateList,
    TemplatePreviewIn,
    TemplatePreviewRead,
    TemplatePut,
    TemplateRead,
    TemplateVariableRead,
)

router = APIRouter(prefix="/api/v1/templates", tags=["templates"])

Reader = Annotated[Principal, Depends(require(Permission.NOTIFICATIONS_READ))]
# A preview is a POST (it carries a draft) that changes nothing: not a write for the trail.
Previewer = Annotated[Principal, Depends(require(Permission.NOTIFICATIONS_READ, audited=False))]
Manager = Annotated[Principal, Depends(require(Permission.DUTY_MANAGE))]

ONE = "/{key}/{channel}/{locale}"


def _district_only(caller: Principal) -> None:
    """The texts are the same for the whole district: edited by district-wide accounts only."""
    if not caller.scope.is_district:
        raise Forbidden("Message templates are edited by district-wide accounts.")


def _read(key: TemplateKey, channel: ChannelKind, locale: Locale, t: Template) -> TemplateRead:
    samples = sample_variables(key, channel, locale)
    return TemplateRead(
        key=key,
        channel=channel,
        locale=locale,
        body=t.body,
        subject=t.subject,
        provider_template_id=t.provider_template_id,
        customised=t.customised,
        updated_at=t.updated_at,
        updated_by=t.updated_by,
        variables=[
            TemplateVariableRead(name=name, description=doc, sample=samples.get(name, ""))
            for name, doc in VARIABLES[key].items()
        ],
    )


def _audited(t: Template) -> dict[str, Any]:
    return {
        "body": t.body,
        "subject": t.subject,
        "provider_template_id": t.provider_template_id,
        "customised": t.customised,
    }


@router.get("", response_model=TemplateList)
async def list_templates(session: ReadSessionDep, caller: Reader) -> TemplateList:
    """Every key, channel and locale, with the text in force, whether it was edited, and the
    variables it may use."""
    templates = await service.load_templates(session)
    return TemplateList(
        items=[
            _read(key, channel, locale, templates.template(key, channel, locale))
            for key in TemplateKey
            for channel in ChannelKind
            for locale in Locale
        ]
    )


@router.get(ONE, response_model=TemplateRead, responses=problem_responses(404))
async def get_template(
    key: TemplateKey,
    channel: ChannelKind,
    locale: Locale,
    session: ReadSessionDep,
    caller: Reader,
) -> TemplateRead:
    templates = await service.load_templates(session)
    return _read(key, channel, locale, templates.template(key, channel, locale))


@router.put(ONE, response_model=TemplateRead, responses=problem_responses(403, 404, 422))
async def put_template(
    key: TemplateKey,
    channel: ChannelKind,
    locale: Locale,
    body: TemplatePut,
    session: SessionDep,
    caller: Manager,
    audit: AuditDep,
) -> TemplateRead:
    """Edit a text. A body that uses a variable the key does not know, or a placeholder other
    than a plain `{name}`, is a 422 problem listing them (`unknown_variables`, `errors`)."""
    _district_only(caller)
    before = (await service.load_templates(session)).template(key, channel, locale)
    after = await service.put_template(
        session,
        key=key,
        channel=channel,
        locale=locale,
        body=body.body,
        subject=body.subject,
        provider_template_id=body.provider_template_id,
        by=caller.subject,
        now=datetime.now(UTC),
    )
    if audit is not None:
        audit.changed(_audited(before), _audited(after))
    return _read(key, channel, locale, after)


@router.delete(ONE, response_model=TemplateRead, responses=problem_responses(403, 404))
async def delete_template(
    key: TemplateKey,
    channel: ChannelKind,
    locale: Locale,
    session: SessionDep,
    caller: Manager,
    audit: AuditDep,
) -> TemplateRead:
    """Back to the built-in text, which the answer shows."""
    _district_only(caller)
    before = (await service.load_templates(session)).template(key, channel, locale)
    after = await service.delete_template(session, key=key, channel=channel, locale=locale)
    if audit is not None:
        audit.changed(_audited(before), _audited(after))
    return _read(key, channel, locale, after)


@router.post(
    f"{ONE}/preview", response_model=TemplatePreviewRead, responses=problem_responses(404, 422)
)
async def preview_template(
    key: TemplateKey,
    channel: ChannelKind,
    locale: Locale,
    body: TemplatePreviewIn,
    session: ReadSessionDep,
    caller: Previewer,
) -> TemplatePreviewRead:
    """How a draft (or the text in force) reads: the given variables, the rest from the
    documented samples; for an SMS, how many segments it takes."""
    shown = await service.preview_template(
        session,
        key=key,
        channel=channel,
        locale=locale,
        body=body.body,
        subject=body.subject,
        variables=body.variables,
    )
    rendered = shown.rendered
    return TemplatePreviewRead(
        text=rendered.text,
        subject=rendered.subject,
        provider_template_id=rendered.provider_template_id,
        params=rendered.params,
        variables=shown.variables,
        segments=shown.segments,
    )
