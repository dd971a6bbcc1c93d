"""The demo's accounts: one per kind of user the demo shows, each with its role and scope.

Opened by the built-in issuer when RW_DEMO_PASSWORD is set (`riskwatch run` sets one per data
directory, `make up` one per stack); never in production. README lists them.
"""

from __future__ import annotations

from typing import Any

# (username, display name, roles, scope)
DEMO_ACCOUNTS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("operator", "District duty operator", ("business_admin",), "district"),
    ("leader", "Leader in charge", ("leader",), "district"),
    (
        "construction-head",
        "Head of construction and transport",
        ("department_head",),
        "sector:construction",
    ),
    ("handler.lujiazui", "Lujiazui Street handler", ("handler",), "town:lujiazui"),
    ("handler.zhangjiang", "Zhangjiang Town handler", ("handler",), "town:zhangjiang"),
    ("tech", "Technical administrator", ("tech_admin",), "district"),
    ("security", "Security administrator", ("security_admin",), "district"),
    ("auditor", "Audit administrator", ("audit_admin",), "district"),
    # The simulator's machine account: registers the demo's devices and rules, sends readings.
    ("simulator", "Demo simulator", ("business_admin", "gateway"), "district"),
)


def demo_accounts(password: str) -> list[dict[str, Any]]:
    return [
        {
            "username": username,
            "display_name": name,
            "password": password,
            "roles": list(roles),
            "scope": scope,
        }
        for username, name, roles, scope in DEMO_ACCOUNTS
    ]
