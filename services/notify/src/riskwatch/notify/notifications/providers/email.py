"""E-mail over SMTP (aiosmtplib). The Message-ID is derived from the notification's idempotency
key, so a resend after a lost answer carries the same id and a mail system or client that
deduplicates by Message-ID shows it once."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
from pydantic import SecretStr

from riskwatch.notify.notifications.providers.base import SendError

WHAT = "SMTP server"


def message_id_for(idempotency_key: str, sender: str) -> str:
    """<digest@domain of the sender>: the same key gives the same id, and the id shows nothing
    of the key (alarm and person ids)."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]
    domain = sender.rpartition("@")[2] or "riskwatch.invalid"
    return f"<{digest}@{domain}>"


class SmtpSender:
    """Sends plain-text UTF-8 mail through one SMTP server, with STARTTLS and a login when
    configured."""

    name = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: SecretStr | None = None,
        starttls: bool = True,
        timeout_s: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout_s = timeout_s

    async def send(self, *, to: str, subject: str, text: str, idempotency_key: str) -> str:
        """Send one mail; returns its Message-ID."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        message_id = message_id_for(idempotency_key, self.sender)
        message["Message-ID"] = message_id
        message.set_content(text)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self._username,
                password=self._password.get_secret_value() if self._password else None,
                start_tls=self._starttls,
                use_tls=False,
                timeout=self._timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({refused.code for refused in exc.recipients})
            # 5xx: the address is refused for good; 4xx: try again later.
            raise SendError(
                f"{WHAT} refused the recipient ({', '.join(map(str, codes))})",
                retryable=any(code < 500 for code in codes),
            ) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Our login, not the message: the server counts as failing (breaker, fallback).
            raise SendError(f"{WHAT} refused the login ({exc.code})") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise SendError(
                f"{WHAT} answered {exc.code}", retryable=not 500 <= exc.code < 600
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SendError(f"{WHAT} unreachable ({type(exc).__name__})") from exc
        return message_id

    async def aclose(self) -> None:
        return None  # one connection per mail: nothing is kept open
