"""The password policy (issue 7, section 5): pure functions, no I/O beyond reading the weak
password list shipped beside this module once.

A password needs `min_length` characters, three of the four character classes (lower case,
upper case, digits, anything else), must not be a common password (compared in lower case, as
typed, after stripping trailing digits and symbols, and with the usual letter-for-digit swaps
undone), and must not contain the username.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from functools import cache
from importlib import resources

MIN_LENGTH = 12
MIN_CLASSES = 3
# A username this short ("li") is inside too many honest passwords to refuse them for it.
MIN_USERNAME_IN_PASSWORD = 3

# Letter-for-digit swaps people believe make a common word strong: p@ssw0rd, adm1n.
_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s",
                       "5": "s", "7": "t", "+": "t", "9": "g", "8": "b"})  # fmt: skip
_TRAILING = string.digits + string.punctuation + " "


@dataclass(frozen=True, slots=True)
class Violation:
    """One rule a password breaks: a stable `code` for clients, a sentence for people."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    min_length: int = MIN_LENGTH
    min_classes: int = MIN_CLASSES

    def check(self, password: str, *, username: str | None = None) -> list[Violation]:
        """Every rule `password` breaks, in a fixed order; empty when it is acceptable."""
        found: list[Violation] = []
        if len(password) < self.min_length:
            found.append(Violation("too-short", f"It needs at least {self.min_length} characters."))
        if character_classes(password) < self.min_classes:
            found.append(
                Violation(
                    "too-few-classes",
                    f"It needs characters of at least {self.min_classes} of these kinds: "
                    "lower case, upper case, digits, symbols.",
                )
            )
        if is_common(password):
            found.append(Violation("common", "It is (or is built on) a commonly used password."))
        if username and contains_username(password, username):
            found.append(Violation("contains-username", "It must not contain the username."))
        return found


DEFAULT_POLICY = PasswordPolicy()


def check_password(password: str, *, username: str | None = None) -> list[Violation]:
    """`DEFAULT_POLICY.check`: the rules every account's password follows."""
    return DEFAULT_POLICY.check(password, username=username)


def character_classes(password: str) -> int:
    """How many of lower case, upper case, digits and other characters `password` uses."""
    lower = upper = digit = other = False
    for char in password:
        if char.islower():
            lower = True
        elif char.isupper():
            upper = True
        elif char.isdigit():
            digit = True
        else:
            other = True
    return lower + upper + digit + other


@cache
def weak_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-cased."""
    text = resources.files(__package__).joinpath("weak_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def _decoration_run(text: str) -> int:
    """Where the trailing run of digits and symbols starts (len(text) if there is none)."""
    start = len(text)
    while start and text[start - 1] in _TRAILING:
        start -= 1
    return start


def _candidates(password: str) -> set[str]:
    """`password` in lower case, and every core left when some of its leading and trailing
    digits and symbols are cut off ("2024!password123" gives "password" among others)."""
    lowered = password.lower()
    lead = len(lowered) - len(lowered.lstrip(_TRAILING))
    tail = _decoration_run(lowered)
    forms = {lowered}
    for start in range(min(lead, tail) + 1):
        for end in range(max(tail, start), len(lowered) + 1):
            forms.add(lowered[start:end])
    forms |= {form.translate(_LEET) for form in list(forms)}
    forms |= {form.replace("1", "l") for form in list(forms)}
    return {form for form in forms if form}


def is_common(password: str) -> bool:
    """Whether `password`, or what is left of it without its decorations, is on the list."""
    weak = weak_passwords()
    return any(form in weak for form in _candidates(password))


def contains_username(password: str, username: str) -> bool:
    name = username.lower()
    if len(name) < MIN_USERNAME_IN_PASSWORD:
        return False
    lowered = password.lower()
    return name in lowered or name[::-1] in lowered


_SYMBOLS = "!#%+-=?@^_~"


def generate_password(length: int = 16) -> str:
    """A random password that the policy accepts: all four classes, no common word."""
    alphabet = string.ascii_letters + string.digits + _SYMBOLS
    while True:
        chars = [
            secrets.choice(string.ascii_lowercase),
            secrets.choice(string.ascii_uppercase),
            secrets.choice(string.digits),
            secrets.choice(_SYMBOLS),
        ] + [secrets.choice(alphabet) for _ in range(max(length, MIN_LENGTH) - 4)]
        # Shuffle with the secrets generator: the first four are not always the same kinds.
        for i in range(len(chars) - 1, 0, -1):
            j = secrets.randbelow(i + 1)
            chars[i], chars[j] = chars[j], chars[i]
        password = "".join(chars)
        if not check_password(password):
            return password
