"""How a duty center and a person are reached, checked where a user gives them: a center's group
robot ("wecom:<url>" / "dingtalk:<url>") and a person's e-mail address. Pure: no I/O.

The checks are strict on purpose. A robot URL is posted to by notify itself, so its host must be
one that every URL parser reads alike (the allow-list is compared with `urlsplit`'s reading, the
post goes through httpx's); an e-mail address ends up in a mail header, so it is a plain
dot-atom address with nothing a header could be forged with. Messages never repeat the value:
a robot URL holds the robot's key.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from urllib.parse import urlsplit

from riskwatch.notify.notifications.providers.robot import RobotKind

ROBOT_URL_MAX_LENGTH = 500  # duty_center.robot_url
EMAIL_MAX_LENGTH = 254  # person.email; RFC 5321's limit on a path
# A provider double on this machine may be posted to over plain http; any other host only
# over https (the URL carries the robot's key).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

# Anything a URL or an address must not hold: controls, spaces (any Unicode space), the
# backslash some parsers read as "/", and lone surrogates.
_FORBIDDEN = re.compile(
    r"[\x00-\x20\x7f-\xa0\\\u1680\u2000-\u200f\u2028-\u202f\u205f\u3000\ufeff\ud800-\udfff]"
)
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL = re.compile(
    rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@"
    rf"(?P<domain>(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}}))",
    re.IGNORECASE,
)


def check_robot_url(value: str) -> str:
    """`value` when it is "wecom:" or "dingtalk:" and an absolute https URL (http only to this
    machine) without credentials, on one line, at most 500 characters; ValueError saying why
    otherwise. Whether its host may be posted to is the settings' (`robot_host_allowed`)."""
    if len(value) > ROBOT_URL_MAX_LENGTH:
        raise ValueError(f"a robot URL has at most {ROBOT_URL_MAX_LENGTH} characters")
    if _FORBIDDEN.search(value):
        raise ValueError("a robot URL is one line without spaces, controls or backslashes")
    kind, sep, url = value.partition(":")
    if not sep or kind not in {k.value for k in RobotKind}:
        raise ValueError('a robot is "wecom:<https url>" or "dingtalk:<https url>"')
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it checks it: a port that is not a number raises
    except ValueError as exc:
        raise ValueError("the robot's address is not a URL") from exc
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("the robot's address is an absolute https URL (https://host/...)")
    if "@" in parts.netloc:
        raise ValueError("the robot's URL must not hold a user name or password")
    host = (parts.hostname or "").lower()
    if not _plain_host(host):
        raise ValueError("the robot's host is not a plain host name or IP address")
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise ValueError("the robot's URL carries its key: https only (http to 127.0.0.1 only)")
    return value


def _plain_host(host: str) -> bool:
    """A DNS name (ASCII, as the robots' are) or an IP address: nothing that URL parsers could
    read as two different hosts."""
    if _DNS_NAME.fullmatch(host):
        return True
    if "%" in host:  # an IPv6 zone ("fe80::1%eth0") names this machine's interface
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def robot_host(robot_url: str) -> str:
    """The host a robot URL posts to, lower case, as the send-time allow-list reads it."""
    _, _, url = robot_url.partition(":")
    return (urlsplit(url).hostname or "").lower()


def robot_host_allowed(robot_url: str, allowed_hosts: Collection[str]) -> bool:
    """Whether notify may post to this robot (RW_ROBOT_ALLOWED_HOSTS)."""
    return robot_host(robot_url) in {h.lower() for h in allowed_hosts}


def check_email(value: str) -> str:
    """`value` when it is a plain address (local@domain: a dot-atom local part, an ASCII domain
    of at least two labels), at most 254 characters; ValueError otherwise. Quoted local parts,
    IP literals, comments and display names are refused: nobody on duty needs them and each is
    a way into a mail header."""
    if len(value) > EMAIL_MAX_LENGTH:
        raise ValueError(f"an e-mail address has at most {EMAIL_MAX_LENGTH} characters")
    match = _EMAIL.fullmatch(value)
    if match is None or len(match.group("local")) > 64:
        raise ValueError("not an e-mail address (name@example.org)")
    return value
