"""Use cases of message templates: load the texts in force, edit, reset and preview them. Callers
own the transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import structlog
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.errors import Invalid
from riskwatch.notify.notifications.domain import ChannelKind
from riskwatch.notify.templates.domain import (
    Locale,
    Preview,
    Template,
    TemplateError,
    TemplateId,
    TemplateKey,
    Templates,
    preview,
    validate,
)
from riskwatch.notify.templates.models import MessageTemplate

log = structlog.get_logger(__name__)


async def load_templates(session: AsyncSession) -> Templates:
    """The texts in force: every edited row over the built-in defaults (one query)."""
    rows = (await session.scalars(select(MessageTemplate))).all()
    custom: dict[TemplateId, Template] = {}
    for row in rows:
        try:
            template_id = (TemplateKey(row.key), ChannelKind(row.channel), Locale(row.locale))
        except ValueError:
            # A row of a key, channel or locale this version does not know: not ours to use.
            log.warning("unknown_message_template", key=row.key, channel=row.channel)
            continue
        custom[template_id] = Template(
            body=row.body,
            subject=row.subject,
            provider_template_id=row.provider_template_id,
            updated_at=row.updated_at,
            updated_by=row.updated_by,
        )
    return Templates(custom)


def _invalid(exc: TemplateError) -> Invalid:
    return Invalid(
        "The template cannot be used: " + "; ".join(exc.problems) + ".",
        errors=exc.problems,
        unknown_variables=exc.unknown,
    )


async def put_template(
    session: AsyncSession,
    *,
    key: TemplateKey,
    channel: ChannelKind,
    locale: Locale,
    body: str,
    subject: str | None,
    provider_template_id: str | None,
    by: str,
    now: datetime,
) -> Template:
    """Replace the text of `key` on `channel` in `locale`. Refused (Invalid) when it uses a
    variable the key does not know or a placeholder that is not a plain `{name}`."""
    if subject is not None and channel is not ChannelKind.EMAIL:
        raise Invalid("Only e-mail templates have a subject.")
    try:
        validate(key, body, subject)
    except TemplateError as exc:
        raise _invalid(exc) from exc
    values = {
        "body": body,
        "subject": subject,
        "provider_template_id": provider_template_id,
        "updated_at": now,
        "updated_by": by,
    }
    await session.execute(
        insert(MessageTemplate)
        .values(key=key.value, channel=channel.value, locale=locale.value, **values)
        .on_conflict_do_update(
            index_elements=[
                MessageTemplate.key,
                MessageTemplate.channel,
                MessageTemplate.locale,
            ],
            set_=values,
        )
    )
    return (await load_templates(session)).template(key, channel, locale)


async def delete_template(
    session: AsyncSession, *, key: TemplateKey, channel: ChannelKind, locale: Locale
) -> Template:
    """Back to the built-in text; the text now in force."""
    await session.execute(
        delete(MessageTemplate).where(
            MessageTemplate.key == key.value,
            MessageTemplate.channel == channel.value,
            MessageTemplate.locale == locale.value,
        )
    )
    return (await load_templates(session)).template(key, channel, locale)


async def preview_template(
    session: AsyncSession,
    *,
    key: TemplateKey,
    channel: ChannelKind,
    locale: Locale,
    body: str | None,
    subject: str | None,
    variables: Mapping[str, str],
) -> Preview:
    """How `body` (or the text in force) reads; missing variables take their sample values."""
    if subject is not None and channel is not ChannelKind.EMAIL:
        raise Invalid("Only e-mail templates have a subject.")
    try:
        return preview(
            await load_templates(session),
            key=key,
            channel=channel,
            locale=locale,
            body=body,
            subject=subject,
            variables=variables,
        )
    except TemplateError as exc:
        raise _invalid(exc) from exc
