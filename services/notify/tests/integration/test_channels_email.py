"""The e-mail channel against a real SMTP server (aiosmtpd on 127.0.0.1, a free port, in the
test's loop): the message as sent (subject, Message-ID from the idempotency key, UTF-8 text),
the login, and refusals turned into send errors, retryable or not."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr

from riskwatch.notify.notifications.channels import EmailChannel, Outgoing, channels_from
from riskwatch.notify.notifications.domain import ChannelKind
from riskwatch.notify.notifications.providers.base import SendError
from riskwatch.notify.notifications.providers.email import SmtpSender, message_id_for
from riskwatch.notify.settings import NotifySettings

SENDER = "riskwatch@duty.example.org"
TEXT = "红色报警 陆家嘴燃气井1 ch4_lel 55。\nAlarm 1a2b3c4d."


@dataclass
class Mailbox:
    """What the server received, and the addresses it refuses (code and text)."""

    received: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        if data.password == b"mail-pass":
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)  # the server answers 535


@dataclass
class Server:
    port: int
    mailbox: Mailbox


@pytest.fixture
async def smtp() -> AsyncIterator[Server]:
    mailbox = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            mailbox,
            hostname="localhost",
            authenticator=mailbox.authenticate,
            auth_require_tls=False,  # a test server on loopback has no certificate
        ),
        "127.0.0.1",
        0,
    )
    yield Server(server.sockets[0].getsockname()[1], mailbox)
    server.close()
    await server.wait_closed()


def channel(server: Server, **options: Any) -> EmailChannel:
    return EmailChannel(
        SmtpSender(
            host="127.0.0.1",
            port=server.port,
            sender=SENDER,
            starttls=False,
            timeout_s=10,
            **options,
        )
    )


def outgoing(to: str = "officer@duty.example.org", **fields: Any) -> Outgoing:
    return Outgoing(
        notification_id="n-1",
        idempotency_key=fields.pop("key", "alarm-1:red:0.2:head.build:email"),
        channel=ChannelKind.EMAIL,
        recipient=to,
        message=fields.pop("message", TEXT),
        attempt=1,
        **fields,
    )


async def test_a_mail_goes_out_with_its_subject_and_a_message_id_from_its_key(
    smtp: Server,
) -> None:
    email_channel = channel(smtp)
    receipt = await email_channel.send(outgoing(subject="[RiskWatch] 红色报警 gas-001"))
    assert email_channel.provider == "smtp"
    [(mail_from, rcpt_tos, message)] = smtp.mailbox.received
    assert (mail_from, rcpt_tos) == (SENDER, ["officer@duty.example.org"])
    assert message["Subject"] == "[RiskWatch] 红色报警 gas-001"
    assert message["From"] == SENDER
    expected_id = message_id_for("alarm-1:red:0.2:head.build:email", SENDER)
    assert message["Message-ID"] == expected_id
    assert expected_id.endswith("@duty.example.org>")
    assert "alarm-1" not in expected_id  # the key's content does not show
    body = message.get_body(("plain",))
    assert body is not None
    # SMTP carries lines ended by CRLF.
    assert body.get_content().replace("\r\n", "\n").strip() == TEXT
    # Sent, not delivered: no receipt follows an e-mail.
    assert (receipt.delivered, receipt.provider_message_id) == (False, expected_id)


async def test_a_resend_carries_the_same_message_id(smtp: Server) -> None:
    email_channel = channel(smtp)
    await email_channel.send(outgoing(key="k-same"))
    await email_channel.send(outgoing(key="k-same"))
    await email_channel.send(outgoing(key="k-other"))
    ids = [m["Message-ID"] for _, _, m in smtp.mailbox.received]
    assert ids[0] == ids[1] != ids[2]


async def test_without_a_subject_the_first_line_is_one(smtp: Server) -> None:
    await channel(smtp).send(outgoing())
    [(_, _, message)] = smtp.mailbox.received
    assert message["Subject"] == TEXT.splitlines()[0]


async def test_it_logs_in_when_configured(smtp: Server) -> None:
    await channel(smtp, username="notify", password=SecretStr("mail-pass")).send(outgoing())
    assert smtp.mailbox.logins == [("notify", "mail-pass")]
    assert len(smtp.mailbox.received) == 1


async def test_a_refused_login_is_the_servers_failure(smtp: Server) -> None:
    with pytest.raises(SendError, match="refused the login") as caught:
        await channel(smtp, username="notify", password=SecretStr("wrong")).send(outgoing())
    assert caught.value.retryable
    assert smtp.mailbox.received == []


@pytest.mark.parametrize(
    ("answer", "retryable"),
    [("550 5.1.1 No such user", False), ("451 4.3.0 Try again later", True)],
)
async def test_a_refused_recipient_is_a_send_error(
    smtp: Server, answer: str, retryable: bool
) -> None:
    smtp.mailbox.refuse["gone@duty.example.org"] = answer
    with pytest.raises(SendError) as caught:
        await channel(smtp).send(outgoing(to="gone@duty.example.org"))
    assert str(caught.value) == f"SMTP server refused the recipient ({answer[:3]})"
    assert caught.value.retryable is retryable


async def test_an_unreachable_server_is_retryable(smtp: Server) -> None:
    closed = Server(port=1, mailbox=smtp.mailbox)  # nothing listens on port 1
    with pytest.raises(SendError, match="unreachable") as caught:
        await channel(closed).send(outgoing())
    assert caught.value.retryable


async def test_a_recipient_that_is_no_address_is_refused_before_sending(smtp: Server) -> None:
    with pytest.raises(SendError) as caught:
        await channel(smtp).send(outgoing(to="head.build"))
    assert not caught.value.retryable


def test_the_channel_exists_when_a_host_is_set() -> None:
    assert ChannelKind.EMAIL not in channels_from(NotifySettings())
    configured = channels_from(NotifySettings(smtp_host="127.0.0.1", smtp_port=2525))
    assert configured[ChannelKind.EMAIL].provider == "smtp"
