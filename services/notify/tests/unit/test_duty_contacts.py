"""How a center and a person are reached, as users give them: a robot URL passes only as
"wecom:" / "dingtalk:" and an https URL with a plain host and no credentials, read back with its
key masked; an e-mail address only as a plain address that no mail header could be forged with."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.notify.duty.contacts import (
    check_email,
    check_robot_url,
    robot_host,
    robot_host_allowed,
)
from riskwatch.notify.notifications.domain import ChannelKind, mask_recipient
from riskwatch.notify.notifications.providers.robot import RobotKind, parse_robot

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"
labels = st.text(_LOWER + _DIGITS, min_size=1, max_size=12)
hosts = st.lists(labels, min_size=2, max_size=4).map(".".join)
keys = st.text(_LOWER + _DIGITS + "-_", min_size=8, max_size=64)
paths = st.lists(st.text(_LOWER + _DIGITS + "-_.", min_size=1, max_size=10), max_size=4).map(
    lambda parts: "/" + "/".join(parts)
)
kinds = st.sampled_from([k.value for k in RobotKind])
# What a URL must not hold anywhere: controls, spaces, DEL, C1 controls, the backslash.
forbidden = st.sampled_from(
    [chr(c) for c in range(0x21)] + [chr(c) for c in range(0x7F, 0xA1)] + ["\\", "\u2028", "\u3000"]
)


class Robot(NamedTuple):
    kind: str
    host: str
    netloc: str
    rest: str  # path and query, the key in it
    key: str

    @property
    def url(self) -> str:
        return f"{self.kind}:https://{self.netloc}{self.rest}"


@st.composite
def robots(draw: st.DrawFn) -> Robot:
    """A robot as a center would name it."""
    kind, host, path, key = draw(kinds), draw(hosts), draw(paths), draw(keys)
    port = draw(st.one_of(st.none(), st.integers(1, 65535)))
    netloc = host if port is None else f"{host}:{port}"
    return Robot(kind, host, netloc, f"{path}?key={key}", key)


@given(robots())
def test_a_robot_url_passes_as_it_is_and_is_read_back_without_its_key(
    robot: Robot,
) -> None:
    url = robot.url
    assert check_robot_url(url) == url
    assert robot_host(url) == robot.host
    # What the API answers and the audit keeps: the kind, host and port, none of path or key.
    assert mask_recipient(ChannelKind.WEBHOOK.value, url) == f"{robot.kind}:{robot.netloc}"
    # The robot channel reads it as the same robot.
    assert parse_robot(url) == (RobotKind(robot.kind), url.partition(":")[2])


@given(robots(), st.data())
def test_a_control_a_space_or_a_backslash_anywhere_is_refused(
    robot: Robot, data: st.DataObject
) -> None:
    url = robot.url
    at = data.draw(st.integers(0, len(url)))
    with pytest.raises(ValueError, match="one line without spaces"):
        check_robot_url(url[:at] + data.draw(forbidden) + url[at:])


@given(robots(), st.text(_LOWER + _DIGITS + ":", min_size=0, max_size=10))
def test_credentials_in_the_url_are_refused(robot: Robot, userinfo: str) -> None:
    with_credentials = f"{robot.kind}:https://{userinfo}@{robot.netloc}{robot.rest}"
    with pytest.raises(ValueError, match="user name or password"):
        check_robot_url(with_credentials)


@given(robots())
def test_plain_http_only_to_this_machine(robot: Robot) -> None:
    with pytest.raises(ValueError, match="https only"):
        check_robot_url(f"{robot.kind}:http://{robot.netloc}{robot.rest}")
    for local in ("127.0.0.1:8123", "localhost", "[::1]:80"):
        loopback = f"{robot.kind}:http://{local}{robot.rest}"
        assert check_robot_url(loopback) == loopback


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("slack:https://hooks.example.org/x", "wecom:<https url>"),
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", "wecom:<https url>"),
        ("WeCom:https://qyapi.weixin.qq.com/x", "wecom:<https url>"),
        ("wecom:ftp://qyapi.weixin.qq.com/x", "absolute https URL"),
        ("wecom:qyapi.weixin.qq.com/x", "absolute https URL"),
        ("wecom:https:///x", "absolute https URL"),
        ("wecom:https://qyapi.weixin.qq.com:key/x", "not a URL"),
        ("wecom:https://[::1/x", "not a URL"),
        ("wecom:https://qyapi%2eweixin.qq.com/x", "plain host"),
        ("wecom:https://qyapi.weixin.qq.com\\.evil.example/x", "one line"),
        ("wecom:https://[fe80::1%25eth0]/x", "plain host"),
        ("wecom:https://qyapi.weixin.qq.com/" + "k" * 470, "at most 500"),
    ],
)
def test_what_is_not_a_robot_url_says_why_without_repeating_it(value: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as refused:
        check_robot_url(value)
    assert value not in str(refused.value)
    assert "key" not in str(refused.value).replace("its key", "")


@given(robots(), st.lists(hosts, max_size=3))
def test_the_allow_list_is_read_as_the_robot_channel_reads_it(
    robot: Robot, others: list[str]
) -> None:
    assert robot_host_allowed(robot.url, [*others, robot.host.upper()])
    assert robot_host_allowed(robot.url, [h for h in others if h != robot.host]) is False


@given(st.text(max_size=600))
def test_any_text_is_either_a_robot_url_or_a_value_error(value: str) -> None:
    try:
        check_robot_url(value)
    except ValueError:
        return
    kind, _, _ = value.partition(":")
    assert kind in {k.value for k in RobotKind}
    assert robot_host(value)


# -- e-mail -------------------------------------------------------------------------------------

atoms = st.text(_LOWER + _LOWER.upper() + _DIGITS + "!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=10)
locals_ = st.lists(atoms, min_size=1, max_size=3).map(".".join)
tlds = st.text(_LOWER, min_size=2, max_size=6)


@given(locals_, hosts, tlds)
def test_a_plain_address_passes_as_it_is(local: str, domain: str, tld: str) -> None:
    address = f"{local}@{domain}.{tld}"
    assert check_email(address) == address


@given(locals_, hosts, st.data())
def test_anything_a_mail_header_could_be_forged_with_is_refused(
    local: str, domain: str, data: st.DataObject
) -> None:
    address = f"{local}@{domain}.org"
    at = data.draw(st.integers(0, len(address)))
    bad = data.draw(st.sampled_from(["\r", "\n", " ", ",", ";", "<", ">", '"', "(", "\\", "\0"]))
    with pytest.raises(ValueError, match="not an e-mail address"):
        check_email(address[:at] + bad + address[at:])


@given(st.text(max_size=300))
def test_an_accepted_address_holds_only_dot_atom_characters(value: str) -> None:
    try:
        check_email(value)
    except ValueError:
        return
    allowed = set(_LOWER + _LOWER.upper() + _DIGITS + "!#$%&'*+/=?^_`{|}~-.@")
    assert set(value) <= allowed
    assert value.count("@") == 1


@pytest.mark.parametrize(
    "value",
    [
        "he.ping",
        "he.ping@",
        "@example.org",
        "he.ping@localhost",
        "he..ping@example.org",
        ".he.ping@example.org",
        "he.ping@-example.org",
        "he.ping@example.o",
        '"he ping"@example.org',
        "he.ping@[10.0.0.1]",
        "He Ping <he.ping@example.org>",
        "hé.ping@example.org",
        "x" * 65 + "@example.org",
        "he.ping@" + "a" * 250 + ".org",
    ],
)
def test_what_is_not_a_plain_address_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="e-mail address"):
        check_email(value)
