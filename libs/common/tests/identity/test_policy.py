"""The password policy, a pure function: examples with their reasons, and its properties."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from riskwatch.common.identity.policy import (
    PasswordPolicy,
    character_classes,
    check_password,
    generate_password,
    is_common,
    weak_passwords,
)
from riskwatch.common.settings import ServiceSettings


def codes(password: str, username: str | None = None) -> list[str]:
    return [v.code for v in check_password(password, username=username)]


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("Tr1cky-Horse-Battery", []),
        ("风险-监测-Pudong-2026", []),  # CJK counts as "other"
        ("Short-1a", ["too-short"]),
        ("alllowercaseletters", ["too-few-classes"]),
        ("lowercase-and-symbols", ["too-few-classes"]),
        ("Password2026!", ["common"]),  # a listed word with decorations
        ("P@ssw0rd-2026", ["common"]),  # letter swaps undone
        ("Woaini1314!!!", ["common"]),
        ("1qaz2wsx3edc", ["too-few-classes", "common"]),
        ("!!2024Qwertyuiop", ["common"]),  # decorations in front too
        ("abc", ["too-short", "too-few-classes", "common"]),
    ],
)
def test_examples(password: str, expected: list[str]) -> None:
    assert codes(password) == expected


def test_the_username_may_not_be_in_the_password() -> None:
    assert codes("Zhangwei-Huamu-77", username="huamu") == ["contains-username"]
    assert codes("Zhangwei-Umauh-77", username="huamu") == ["contains-username"]  # reversed
    assert codes("Zhangwei-HUAMU-77", username="HuaMu") == ["contains-username"]
    assert codes("Zhangwei-Huamu-77", username="hu") == []  # too short a name to refuse


def test_every_rule_is_reported_with_a_sentence() -> None:
    found = check_password("admin", username="admin")
    assert [v.code for v in found] == [
        "too-short",
        "too-few-classes",
        "common",
        "contains-username",
    ]
    assert all(v.message.endswith(".") for v in found)


def test_the_shipped_list_is_large_lower_case_and_has_the_usual_suspects() -> None:
    weak = weak_passwords()
    assert len(weak) > 3000
    assert all(w == w.lower() for w in weak)
    for word in ("123456", "password", "qwerty", "iloveyou", "woaini1314", "5201314", "admin"):
        assert word in weak
    assert is_common("QWERTY")
    assert is_common("Admin@2024")


@given(st.text(min_size=0, max_size=40))
def test_a_password_is_accepted_exactly_when_no_rule_is_broken(password: str) -> None:
    found = {v.code for v in check_password(password)}
    assert ("too-short" in found) == (len(password) < 12)
    assert ("too-few-classes" in found) == (character_classes(password) < 3)
    assert ("common" in found) == is_common(password)


@given(st.text(min_size=1, max_size=30), st.sampled_from(["", "1", "2024", "!", "123!@#"]))
def test_decorating_a_listed_password_never_makes_it_acceptable(
    suffix_seed: str, suffix: str
) -> None:
    base = sorted(weak_passwords())[len(suffix_seed) * 97 % len(weak_passwords())]
    assert is_common(base + suffix)
    assert is_common(base.upper() + suffix)


@given(st.integers(min_value=12, max_value=64))
def test_generated_passwords_follow_the_policy(length: int) -> None:
    password = generate_password(length)
    assert len(password) == length
    assert check_password(password) == []
    assert character_classes(password) == 4


@given(
    st.text(alphabet=string.ascii_letters + string.digits + "-_!", min_size=12, max_size=30),
    st.integers(min_value=8, max_value=40),
)
def test_a_longer_minimum_only_adds_the_length_rule(password: str, minimum: int) -> None:
    strict = {v.code for v in PasswordPolicy(min_length=minimum).check(password)}
    default = {v.code for v in check_password(password)}
    assert strict - {"too-short"} == default - {"too-short"}


def test_production_refuses_a_weak_admin_password_and_development_accepts_it() -> None:
    with pytest.raises(ValidationError, match="RW_ADMIN_PASSWORD") as refused:
        ServiceSettings(
            env="production",
            admin_password=SecretStr("admin12345"),
        )
    assert "admin12345" not in str(refused.value)  # the error never shows the password
    ServiceSettings(
        env="production",
        admin_password=SecretStr("Strong-District-Key-42"),
    )
    dev = ServiceSettings(env="development", admin_password=SecretStr("admin12345"))
    assert dev.admin_password_violations()
    assert ServiceSettings(env="production").admin_password is None
