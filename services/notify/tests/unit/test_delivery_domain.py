"""Pure rules of delivery: retry waits with capped exponential backoff and full jitter, when an
alarm's SMS falls back to voice, how a recipient is masked in the log, which provider error
codes are worth a retry."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.notify.notifications.domain import (
    ChannelKind,
    Status,
    Topic,
    after_failure,
    fallback_key,
    falls_back_to_voice,
    mask_recipient,
)
from riskwatch.notify.notifications.providers.base import code_retryable

from .. import factories as f


def cap_seen(attempts: int, initial: float, maximum: float) -> float:
    """The upper end of the range after_failure draws its wait from."""
    seen: list[tuple[float, float]] = []

    def record(low: float, high: float) -> float:
        seen.append((low, high))
        return high

    after_failure(
        attempts=attempts,
        max_attempts=attempts + 1,
        now=f.NOW,
        initial_s=initial,
        maximum_s=maximum,
        jitter=record,
    )
    [(low, high)] = seen
    assert low == 0.0
    return high


@given(
    st.floats(min_value=0.01, max_value=60),
    st.floats(min_value=0.01, max_value=3600),
    st.integers(min_value=0, max_value=2**32 - 1),
)
def test_the_cap_doubles_then_stays_at_the_maximum(
    initial: float, maximum: float, seed: int
) -> None:
    caps = [cap_seen(n, initial, maximum) for n in range(1, 40)]
    assert caps[0] == min(initial, maximum)
    assert all(a <= b for a, b in itertools.pairwise(caps))  # never shrinks
    assert all(b == min(2 * a, maximum) for a, b in itertools.pairwise(caps))
    assert caps[-1] == maximum  # reached, and kept
    # The real jitter (seeded here) draws within [0, cap], anywhere in it.
    rng = random.Random(seed)
    for n, cap in enumerate(caps, start=1):
        d = after_failure(
            attempts=n,
            max_attempts=n + 1,
            now=f.NOW,
            initial_s=initial,
            maximum_s=maximum,
            jitter=rng.uniform,
        )
        assert d.status is Status.PENDING
        assert d.next_attempt_at is not None
        assert f.NOW <= d.next_attempt_at <= f.NOW + timedelta(seconds=cap)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_jitter_outside_its_range_cannot_escape_it(drawn: float) -> None:
    d = after_failure(
        attempts=3, max_attempts=5, now=f.NOW, initial_s=2, maximum_s=60, jitter=lambda a, b: drawn
    )
    assert d.next_attempt_at is not None
    assert f.NOW <= d.next_attempt_at <= f.NOW + timedelta(seconds=8)


def test_the_default_jitter_is_random() -> None:
    waits = {
        after_failure(
            attempts=4, max_attempts=9, now=f.NOW, initial_s=1, maximum_s=60
        ).next_attempt_at
        for _ in range(50)
    }
    assert len(waits) > 1  # 50 equal draws from [0, 8 s] would be a broken jitter
    assert all(w is not None and f.NOW <= w <= f.NOW + timedelta(seconds=8) for w in waits)


@pytest.mark.parametrize(
    ("topic", "channel", "attempts", "down", "giving_up", "expected"),
    [
        (Topic.ALARM, ChannelKind.SMS, 1, False, False, False),  # one failure: retry SMS
        (Topic.ALARM, ChannelKind.SMS, 2, False, False, True),  # the second: voice
        (Topic.ALARM, ChannelKind.SMS, 1, True, False, True),  # breaker open: at once
        (Topic.ALARM, ChannelKind.SMS, 1, False, True, True),  # failed for good
        (Topic.ALARM, ChannelKind.VOICE, 9, True, True, False),  # voice is the last resort
        (Topic.ALARM, ChannelKind.IN_APP, 9, True, True, False),
        (Topic.ROSTER, ChannelKind.SMS, 9, True, True, False),  # a duty notice is no alarm
    ],
)
def test_when_an_sms_falls_back_to_voice(
    topic: Topic,
    channel: ChannelKind,
    attempts: int,
    down: bool,
    giving_up: bool,
    expected: bool,
) -> None:
    assert (
        falls_back_to_voice(
            topic=topic.value,
            channel=channel.value,
            attempts=attempts,
            fallback_after=2,
            provider_down=down,
            giving_up=giving_up,
        )
        is expected
    )


def test_the_fallback_key_is_the_sms_key_plus_a_suffix() -> None:
    assert fallback_key("a:red:0.0:l1:sms") == "a:red:0.0:l1:sms:fallback:voice"


@pytest.mark.parametrize(
    ("channel", "recipient", "masked"),
    [
        (ChannelKind.SMS, "13812345678", "138****5678"),
        (ChannelKind.VOICE, "+8613812345678", "+86138****5678"),
        (ChannelKind.SMS, "12345", "*2345"),
        (ChannelKind.SMS, "123", "***"),
        (ChannelKind.EMAIL, "duty.officer@example.org", "d***@example.org"),
        (ChannelKind.EMAIL, "not-an-address", "***"),
        (
            ChannelKind.WEBHOOK,
            "wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET-KEY",
            "wecom:qyapi.weixin.qq.com",
        ),
        (
            ChannelKind.WEBHOOK,
            "dingtalk:https://user:pw@oapi.dingtalk.com/robot/send?access_token=T",
            "dingtalk:oapi.dingtalk.com",
        ),
        (ChannelKind.IN_APP, "l1", "l1"),
    ],
)
def test_recipients_are_masked_in_the_log(
    channel: ChannelKind, recipient: str, masked: str
) -> None:
    assert mask_recipient(channel.value, recipient) == masked


@given(st.text(alphabet="+0123456789", min_size=0, max_size=20))
def test_a_masked_number_keeps_its_length_and_last_four_and_hides_the_rest_it_must(
    number: str,
) -> None:
    masked = mask_recipient(ChannelKind.SMS.value, number)
    n = len(number)
    assert len(masked) == n
    if n > 4:
        # The last four stay, four before them are hidden (all of them in a short number),
        # and what comes first (the prefix, 138 or +86138) stays.
        hidden = min(4, n - 4)
        assert masked == number[: n - 4 - hidden] + "*" * hidden + number[-4:]
    else:
        assert masked == "*" * n


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("isv.BUSINESS_LIMIT_CONTROL", True),  # flow control
        ("isp.SYSTEM_ERROR", True),
        ("LimitExceeded.PhoneNumberDailyLimit", True),
        ("InternalError.Timeout", True),
        ("isv.MOBILE_NUMBER_ILLEGAL", False),  # a bad number
        ("isv.SMS_TEMPLATE_ILLEGAL", False),  # the template
        ("isv.TEMPLATE_MISSING_PARAMETERS", False),
        ("InvalidParameterValue.TemplateParameterFormatError", False),
        ("SomethingNew", True),  # unknown and not about the request: the platform's
    ],
)
def test_which_platform_codes_are_retried(code: str, retryable: bool) -> None:
    assert code_retryable(code) is retryable
