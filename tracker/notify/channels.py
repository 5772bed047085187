"""Customer message channels (the outside world): email through SMTP, SMS through an HTTP gateway.

:class:`Channel` is the seam: the dispatcher holds one per channel name and
calls ``send``; the tests use the real implementations against a real SMTP
server on loopback (aiosmtpd) and a local fake SMS gateway.

The SMS gateway speaks the shape of Aliyun's ``SendSms`` (the common Chinese
SMS API): a JSON POST with ``PhoneNumbers``, ``SignName``, ``TemplateCode``
and ``TemplateParam`` (a JSON string), answered ``{"Code": "OK", "BizId":
...}``; any other ``Code`` is a failed try. ``TemplateCode`` is
``TRACKER_<MOMENT>_<LANGUAGE>`` (register templates under those codes at the
provider), ``TemplateParam`` carries the rendered text as ``content``.
"""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import urlsplit

from tracker.notify.messages import Message


class ChannelFailed(RuntimeError):
    """The message did not go out; the text says why (kept in the delivery log)."""


class Channel(Protocol):
    def send(self, to: str, message: Message) -> None: ...


class EmailChannel:
    def __init__(self, smtp_url: str, mail_from: str, *, timeout: float = 10.0) -> None:
        parts = urlsplit(smtp_url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("TRACKER_SMTP_URL is smtp://host:port or smtps://host:port")
        self.tls = parts.scheme == "smtps"
        self.host, self.port = parts.hostname, parts.port or (465 if self.tls else 25)
        self.user, self.password = parts.username, parts.password
        self.mail_from, self.timeout = mail_from, timeout

    def send(self, to: str, message: Message) -> None:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.mail_from, to, message.subject
        mail.set_content(message.text, charset="utf-8")
        mail["Content-Language"] = message.language  # after set_content, which resets Content-* headers
        smtp_class = smtplib.SMTP_SSL if self.tls else smtplib.SMTP
        try:
            with smtp_class(self.host, self.port, timeout=self.timeout) as smtp:
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelFailed(f"SMTP: {type(exc).__name__}: {exc}"[:300]) from None


class SmsChannel:
    def __init__(self, url: str, sign_name: str, *, timeout: float = 10.0) -> None:
        self.url, self.sign_name, self.timeout = url, sign_name, timeout

    def send(self, to: str, message: Message) -> None:
        code = f"TRACKER_{message.moment}_{message.language.replace('-', '_')}".upper()
        body = json.dumps(
            {
                "PhoneNumbers": to,
                "SignName": self.sign_name,
                "TemplateCode": code,
                "TemplateParam": json.dumps({"content": message.text}, ensure_ascii=False),
            },
            ensure_ascii=False,
        ).encode()
        request = urllib.request.Request(self.url, data=body, headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read() or b"{}")
        except (OSError, ValueError, urllib.error.URLError) as exc:
            raise ChannelFailed(f"SMS gateway: {type(exc).__name__}: {exc}"[:300]) from None
        if answer.get("Code") != "OK":
            raise ChannelFailed(f"SMS gateway: {answer.get('Code')}: {answer.get('Message')}"[:300])
