"""Message templates, pure: the built-in texts per key, channel and locale, what a template may
say (plain `{name}` placeholders of the key's variables, nothing a format string could reach
through), rendering, the SMS length budget and previews."""

# ruff: noqa: RUF001  (the expected Chinese texts use full-width punctuation)

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.events import Level
from riskwatch.common.events.alarms import AlarmSnapshot
from riskwatch.notify.duty.domain import ShiftSpan
from riskwatch.notify.notifications.domain import ChannelKind
from riskwatch.notify.templates.domain import (
    DEFAULTS,
    SMS_MAX_SEGMENTS,
    VARIABLES,
    Locale,
    Template,
    TemplateError,
    TemplateKey,
    Templates,
    alarm_variables,
    digest_variables,
    locale_of,
    preview,
    render,
    roster_variables,
    sample_variables,
    sms_segments,
    spell,
    validate,
    variables_in,
)

from .. import factories as f

TZ = ZoneInfo("Asia/Shanghai")
EVERY = [(k, c, loc) for k in TemplateKey for c in ChannelKind for loc in Locale]
ZH_SMS = (
    "【RiskWatch】红色预警：陆家嘴街道 燃气井1(gas-001) ch4_lel 55，规则gas-lel。"
    "告警1a2b3c4d，回复QS 1a2b3c4d签收。"
)


def red_alarm(name: str | None = "燃气井1", device_id: str = "gas-001") -> AlarmSnapshot:
    dev = f.device(device_id).model_copy(update={"name": name})
    return f.alarm(Level.RED, alarm_id="1a2b3c4d-9999", dev=dev, value=55.0)


# -- the built-in texts -------------------------------------------------------------------------


def test_every_key_channel_and_locale_has_a_text_that_uses_only_its_variables() -> None:
    assert set(DEFAULTS) == set(EVERY)
    for key, channel, locale in EVERY:
        template = DEFAULTS[key, channel, locale]
        used = validate(key, template.body, template.subject)
        assert used, (key, channel, locale)
        # Only e-mails have a subject, and every e-mail has one.
        assert (template.subject is not None) == (channel is ChannelKind.EMAIL)


def test_the_zh_cn_alarm_sms_reads_as_a_chinese_duty_officer_expects() -> None:
    variables = alarm_variables(
        red_alarm(), place="陆家嘴街道", step=0, channel=ChannelKind.SMS, locale="zh-CN"
    )
    rendered = Templates().render(TemplateKey.ALARM, ChannelKind.SMS, "zh-CN", variables)
    assert rendered.text == ZH_SMS
    assert sms_segments(rendered.text) == 2
    # A template provider gets the variables the body uses, in order of use.
    assert list(rendered.params) == variables_in(
        DEFAULTS[TemplateKey.ALARM, ChannelKind.SMS, Locale.ZH_CN].body
    )
    assert rendered.params["alarm_ref"] == "1a2b3c4d"


def test_english_is_chosen_by_locale_and_an_unknown_locale_reads_zh_cn() -> None:
    variables = alarm_variables(
        red_alarm("Gas well 1"),
        place="Lujiazui Street",
        step=0,
        channel=ChannelKind.SMS,
        locale="en",
    )
    english = Templates().render(TemplateKey.ALARM, ChannelKind.SMS, "en-US", variables)
    assert english.text == (
        "[RiskWatch] red alarm: Lujiazui Street Gas well 1 (gas-001) ch4_lel 55, rule gas-lel."
        " Alarm 1a2b3c4d: reply QS 1a2b3c4d to acknowledge."
    )
    assert sms_segments(english.text) == 1  # GSM 7-bit: 160 a segment
    french = Templates().render(TemplateKey.ALARM, ChannelKind.SMS, "fr", variables)
    assert french.text.startswith("【RiskWatch】red预警")  # zh-CN text, the values as given
    assert [locale_of(x) for x in ("en", "EN-gb", "zh-CN", "zh", None, "fr")] == [
        Locale.EN,
        Locale.EN,
        Locale.ZH_CN,
        Locale.ZH_CN,
        Locale.ZH_CN,
        Locale.ZH_CN,
    ]


@pytest.mark.parametrize(("key", "locale"), [(k, loc) for k in TemplateKey for loc in Locale])
def test_a_voice_text_is_what_a_tts_engine_reads(key: TemplateKey, locale: Locale) -> None:
    # (The sample alarm's reference is 1a2b3c4d; "ddb2eb91" must be read d d b 2 e b 9 1 too.)
    variables = sample_variables(key, ChannelKind.VOICE, locale)
    text = Templates().render(key, ChannelKind.VOICE, locale, variables).text
    assert not set(text) & set("()[]{}（）【】<>"), text
    assert text.endswith("按1确认签收" if locale is Locale.ZH_CN else "press 1 to acknowledge")
    if key is TemplateKey.ALARM:
        assert "1 a 2 b 3 c 4 d" in text  # the alarm reference, spelled


@pytest.mark.parametrize(("key", "locale"), [(k, loc) for k in TemplateKey for loc in Locale])
def test_sms_texts_with_the_sample_values_fit_two_segments(
    key: TemplateKey, locale: Locale
) -> None:
    variables = sample_variables(key, ChannelKind.SMS, locale)
    text = Templates().render(key, ChannelKind.SMS, locale, variables).text
    assert sms_segments(text) <= SMS_MAX_SEGMENTS, text


def test_rendering_tidies_what_an_empty_place_leaves() -> None:
    variables = alarm_variables(
        red_alarm(), place=None, step=0, channel=ChannelKind.SMS, locale="zh-CN"
    )
    text = Templates().render(TemplateKey.ALARM, ChannelKind.SMS, "zh-CN", variables).text
    assert text.startswith("【RiskWatch】红色预警：燃气井1(gas-001) ch4_lel 55，")
    assert "  " not in text


# -- variables ----------------------------------------------------------------------------------


def test_alarm_variables_by_channel_and_locale() -> None:
    alarm = red_alarm()
    sms = alarm_variables(
        alarm, place="陆家嘴街道", step=2, channel=ChannelKind.SMS, locale="zh-CN"
    )
    assert sms["level"] == "红色"
    assert sms["step"] == "3"  # the row's step 2 is the third
    assert sms["ack_hint"] == "回复QS 1a2b3c4d签收"
    assert sms["device"] == "燃气井1(gas-001)"
    voice = alarm_variables(alarm, place=None, step=0, channel=ChannelKind.VOICE, locale="en")
    assert voice["level"] == "red"
    assert voice["ack_hint"] == "press 1 to acknowledge"
    assert (voice["alarm_ref"], voice["device_id"], voice["device"]) == (
        "1 a 2 b 3 c 4 d",
        "gas 0 0 1",
        "燃气井1",
    )
    unnamed = alarm_variables(
        red_alarm(name=None), place=None, step=0, channel=ChannelKind.IN_APP, locale="zh-CN"
    )
    assert (unnamed["device"], unnamed["device_name"]) == ("gas-001", "")
    assert set(sms) == set(VARIABLES[TemplateKey.ALARM])
    assert spell("gas-lel_2") == "gas lel 2"


def test_digest_variables_list_levels_from_the_most_serious() -> None:
    at = datetime(2026, 11, 1, 19, 0, tzinfo=UTC)  # 03:00 in Shanghai
    zh = digest_variables(
        count=190,
        by_level={"yellow": 189, None: 2, "red": 1},
        since=at,
        until=at + timedelta(minutes=10),
        first_refs=["1a2b3c4d", "5e6f7a8b"],
        tz=TZ,
        locale="zh-CN",
    )
    assert zh == {
        "count": "190",
        "by_level": "红色1 黄色189 其他2",
        "since": "03:00",
        "until": "03:10",
        "first_refs": "1a2b3c4d、5e6f7a8b",
    }
    en = digest_variables(
        count=3, by_level={"blue": 3}, since=at, until=at, first_refs=[], tz=TZ, locale="en"
    )
    assert en["by_level"] == "blue 3"


def test_roster_variables_list_the_first_shifts_and_count_the_rest() -> None:
    start = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
    shifts = [
        ShiftSpan(f"s{i}", "c", "p", start + timedelta(days=i), start + timedelta(days=i, hours=9))
        for i in range(5)
    ]
    zh = roster_variables(
        center="陆家嘴", version=2, shifts=shifts[::-1], tz=TZ, locale="zh-CN", listed=2
    )
    assert zh["shifts"] == "12-01 08:30-17:30、12-02 08:30-17:30等共5班"
    assert (zh["published"], zh["count"], zh["first_shift"]) == (
        "更新发布",
        "5",
        "12-01 08:30-17:30",
    )
    en = roster_variables(center="Lujiazui", version=1, shifts=shifts, tz=TZ, locale="en", listed=2)
    assert en["shifts"] == "12-01 08:30-17:30, 12-02 08:30-17:30 and 3 more"
    assert en["published"] == "published"


# -- what a template may say --------------------------------------------------------------------


def test_unknown_variables_are_refused_and_listed() -> None:
    with pytest.raises(TemplateError) as caught:
        validate(TemplateKey.ALARM, "{level} {colour} at {place} {where}", "{colour}")
    assert caught.value.unknown == ["colour", "where"]
    assert "unknown variables for alarm: colour, where" in str(caught.value)
    # A variable of another key is unknown here too.
    with pytest.raises(TemplateError):
        validate(TemplateKey.CHECK_IN, "{level}")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("{level", "unbalanced braces"),
        ("level}", "unbalanced braces"),
        ("{level.__class__}", "attribute and index access are not allowed"),
        ("{level.__class__.__init__.__globals__}", "attribute and index access are not allowed"),
        ("{level[0]}", "attribute and index access are not allowed"),
        ("{}", "a placeholder names a variable"),
        ("{0}", "a placeholder names a variable"),
        ("{level!r}", "conversions and format specs are not allowed"),
        ("{level:>100000}", "conversions and format specs are not allowed"),
        ("{level:{place}}", "conversions and format specs are not allowed"),
        ("{le vel}", "not a variable name"),
    ],
)
def test_malformed_placeholders_are_refused_with_a_clear_message(body: str, says: str) -> None:
    with pytest.raises(TemplateError) as caught:
        validate(TemplateKey.ALARM, body)
    assert says in str(caught.value)


def test_doubled_braces_are_literal_braces() -> None:
    assert validate(TemplateKey.ALARM, "{{level}} is {level}") == ["level"]
    assert render("{{level}} is {level}", {"level": "红色"}) == "{level} is 红色"


def test_a_missing_value_is_an_error_unless_a_stand_in_is_given() -> None:
    with pytest.raises(TemplateError, match=r"no value for \{place\}"):
        render("{level} {place}", {"level": "红色"})
    assert render("{level} {place}", {"level": "红色"}, missing="") == "红色 "


@given(st.text())
def test_a_value_is_inserted_as_it_is_never_read_as_a_template(value: str) -> None:
    assert render("<{place}>", {"place": value}) == f"<{value}>"


@given(st.text())
def test_any_text_with_its_braces_doubled_renders_back_to_itself(text: str) -> None:
    body = text.replace("{", "{{").replace("}", "}}")
    assert validate(TemplateKey.DIGEST, body) == []
    assert render(body, {}) == text


@given(st.text(alphabet=st.sampled_from("{}[].!:0ab_ lvel"), max_size=30))
def test_any_body_is_either_refused_clearly_or_renders(body: str) -> None:
    """No other exception, whatever a user types: what passes renders without str.format."""
    problems: list[str] = []
    try:
        used = validate(TemplateKey.ALARM, body)
    except TemplateError as exc:
        problems, used = exc.problems, []
    if problems:
        return
    rendered = render(body, {name: f"<{name}>" for name in used})
    assert all(f"<{name}>" in rendered for name in used)


# -- the templates in force ---------------------------------------------------------------------


def test_an_edited_text_is_used_and_a_broken_one_gives_way_to_the_default() -> None:
    key, channel = TemplateKey.CHECK_IN, ChannelKind.IN_APP
    variables = sample_variables(key, channel, "zh-CN")
    edited = Templates(
        {
            (key, channel, Locale.ZH_CN): Template(
                "请注意：{center}无人报到", provider_template_id="SMS_1"
            )
        }
    )
    rendered = edited.render(key, channel, "zh-CN", variables)
    assert rendered.text == "请注意：陆家嘴街道值班中心无人报到"
    assert (rendered.provider_template_id, rendered.params) == (
        "SMS_1",
        {"center": "陆家嘴街道值班中心"},
    )
    # English was not edited.
    assert edited.render(key, channel, "en", variables).text.startswith("Nobody at")
    # A stored text that no longer validates (edited in the database by hand) never stops a
    # notice: the built-in text is used.
    broken = Templates({(key, channel, Locale.ZH_CN): Template("{center.__class__}")})
    assert (
        broken.render(key, channel, "zh-CN", variables).text
        == Templates().render(key, channel, "zh-CN", variables).text
    )


def test_an_edited_email_body_keeps_the_default_subject() -> None:
    key, channel = TemplateKey.ALARM, ChannelKind.EMAIL
    templates = Templates({(key, channel, Locale.ZH_CN): Template("{level}预警 {alarm_ref}")})
    rendered = templates.render(key, channel, "zh-CN", sample_variables(key, channel, "zh-CN"))
    assert rendered.text == "红色预警 1a2b3c4d"
    assert rendered.subject == "【RiskWatch】红色预警：陆家嘴街道 燃气井1(gas-001)"


@given(place=st.text(max_size=300), name=st.text(max_size=300) | st.none())
def test_an_alarm_sms_gives_up_details_before_it_takes_more_than_two_segments(
    place: str, name: str | None
) -> None:
    for locale in Locale:
        variables = alarm_variables(
            red_alarm(name), place=place, step=0, channel=ChannelKind.SMS, locale=locale
        )
        text = Templates().render(TemplateKey.ALARM, ChannelKind.SMS, locale, variables).text
        assert sms_segments(text) <= SMS_MAX_SEGMENTS
        # What the person needs to acknowledge is always there.
        assert "QS 1a2b3c4d" in text


def test_a_preview_fills_missing_variables_from_the_samples() -> None:
    shown = preview(
        Templates(),
        key=TemplateKey.ALARM,
        channel=ChannelKind.SMS,
        locale="zh-CN",
        body="{level}预警 {place} {alarm_ref}",
        subject=None,
        variables={"place": "花木街道"},
    )
    assert shown.rendered.text == "红色预警 花木街道 1a2b3c4d"
    assert shown.segments == 1
    assert shown.variables["place"] == "花木街道"
    assert shown.variables["level"] == "红色"
    # Without a body: the text in force.
    current = preview(
        Templates(),
        key=TemplateKey.ALARM,
        channel=ChannelKind.SMS,
        locale="zh-CN",
        body=None,
        subject=None,
        variables={},
    )
    assert current.rendered.text == ZH_SMS
    with pytest.raises(TemplateError) as caught:
        preview(
            Templates(),
            key=TemplateKey.ALARM,
            channel=ChannelKind.SMS,
            locale="zh-CN",
            body=None,
            subject=None,
            variables={"colour": "red"},
        )
    assert caught.value.unknown == ["colour"]


def test_a_voice_call_reads_an_alarm_reference_character_by_character() -> None:
    alarm = f.alarm(alarm_id="ddb2eb91-4626-4638-849e-0e6d21f127b5")
    variables = alarm_variables(
        alarm, place=None, step=0, channel=ChannelKind.VOICE, locale=Locale.ZH_CN
    )
    assert variables["alarm_ref"] == "d d b 2 e b 9 1"
    sms = alarm_variables(alarm, place=None, step=0, channel=ChannelKind.SMS, locale="zh-CN")
    assert sms["alarm_ref"] == "ddb2eb91"
