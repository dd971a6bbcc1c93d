"""API models of message templates: a template with its variables, an edit, a preview."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from riskwatch.common.inputs import ONE_LINE_PATTERN, FreeText, Line
from riskwatch.notify.notifications.domain import ChannelKind
from riskwatch.notify.templates.domain import Locale, TemplateKey

# A body is at most a long e-mail; an SMS or a call is far shorter.
BODY_MAX = 4000
VariableName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
ProviderTemplateId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=ONE_LINE_PATTERN)
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TemplateVariableRead(BaseModel):
    name: str
    description: str
    sample: str  # what a preview fills in when no value is given


class TemplateRead(BaseModel):
    key: TemplateKey
    channel: ChannelKind
    locale: Locale
    body: str
    subject: str | None = None  # e-mail only
    provider_template_id: str | None = None
    customised: bool  # false: the built-in text
    updated_at: datetime | None = None
    updated_by: str | None = None
    variables: list[TemplateVariableRead]


class TemplateList(BaseModel):
    items: list[TemplateRead]


class TemplatePut(_In):
    """`{name}` placeholders name the key's variables; `{{` and `}}` are literal braces."""

    body: FreeText = Field(min_length=1, max_length=BODY_MAX)
    subject: Line | None = Field(default=None, min_length=1, max_length=200)  # e-mail only
    provider_template_id: ProviderTemplateId | None = None


class TemplatePreviewIn(_In):
    """A draft `body` (and `subject`), or none for the text in force; `variables` override the
    sample values."""

    body: FreeText | None = Field(default=None, min_length=1, max_length=BODY_MAX)
    subject: Line | None = Field(default=None, min_length=1, max_length=200)
    variables: dict[VariableName, Annotated[Line, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=64
    )


class TemplatePreviewRead(BaseModel):
    text: str
    subject: str | None = None
    provider_template_id: str | None = None
    params: dict[str, str]  # what a template provider receives: the variables the body uses
    variables: dict[str, str]  # every value used, the samples included
    segments: int | None = None  # how many SMS segments the text takes (sms only)
