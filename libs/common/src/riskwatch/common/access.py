"""Who may do what, and where: roles, permissions and org scopes, as data.

Roles are the seed's (003 art. 5 and 6) plus the three separated administrators of graded
protection level 3 (seed 004), and one machine role for gateways and sector systems that send
readings. A role grants permissions; a route declares the one permission it needs with
`require(Permission.X)` (a test fails for any route that declares none). An account also has one
org scope: the district, a sector (department), a town or a village. Every list and get is
filtered by it and an object outside it is answered 404, as if it did not exist.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, false, true


class Permission(enum.StrEnum):
    CATALOG_READ = "catalog:read"
    DEVICES_READ = "devices:read"
    DEVICES_WRITE = "devices:write"
    READINGS_WRITE = "readings:write"
    RULES_READ = "rules:read"
    RULES_WRITE = "rules:write"
    ALARMS_READ = "alarms:read"
    WORKORDERS_READ = "workorders:read"
    WORKORDERS_ACT = "workorders:act"  # act on an order of one's own or one's unit; report one
    # Draft the command manual, dispatch and transfer orders, give a unit's orders a person.
    WORKORDERS_MANAGE = "workorders:manage"
    # Approve a command manual version, review closure data, reopen, escalate the loop tier.
    WORKORDERS_REVIEW = "workorders:review"
    WORKORDERS_SUPERVISE = "workorders:supervise"  # 督办: a note and a new deadline
    NOTIFICATIONS_READ = "notifications:read"  # every notification within one's scope
    # Only the notices sent to oneself (the in-app list and stream): whoever gets notices.
    NOTIFICATIONS_OWN = "notifications:own"
    NOTIFICATIONS_ACK = "notifications:ack"
    DUTY_READ = "duty:read"
    DUTY_ACT = "duty:act"  # check in, ask for a swap, write or take over a handover
    DUTY_MANAGE = "duty:manage"  # duty centers, members, rosters, routing
    SMS_INBOUND = "sms:inbound"  # the SMS provider's webhook for replies
    PROVIDER_CALLBACK = "provider:callback"  # SMS delivery receipts, voice gateway callbacks
    REPORTS_READ = "reports:read"
    ACCOUNTS_READ = "accounts:read"
    ACCOUNTS_WRITE = "accounts:write"
    ROLES_READ = "roles:read"
    AUDIT_READ = "audit:read"


P = Permission

_OPERATIONS_READ = frozenset(
    {
        P.CATALOG_READ,
        P.DEVICES_READ,
        P.RULES_READ,
        P.ALARMS_READ,
        P.WORKORDERS_READ,
        P.NOTIFICATIONS_READ,
        P.NOTIFICATIONS_OWN,
        P.DUTY_READ,
        P.REPORTS_READ,
    }
)


@dataclass(frozen=True, slots=True)
class RoleInfo:
    id: str
    label_zh: str
    label_en: str
    permissions: frozenset[Permission]
    administrator: bool = False  # one of the three separated administrators


class Role(enum.StrEnum):
    LEADER = "leader"
    DEPARTMENT_HEAD = "department_head"
    BUSINESS_ADMIN = "business_admin"
    HANDLER = "handler"
    TECH_LEAD = "tech_lead"
    TECH_ADMIN = "tech_admin"
    SYSTEM_ADMIN = "system_admin"
    SECURITY_ADMIN = "security_admin"
    AUDIT_ADMIN = "audit_admin"
    GATEWAY = "gateway"


ROLES: dict[str, RoleInfo] = {
    info.id: info
    for info in (
        RoleInfo(
            "leader",
            "分管责任人",
            "Leader in charge",
            _OPERATIONS_READ
            | {P.NOTIFICATIONS_ACK, P.DUTY_ACT, P.WORKORDERS_REVIEW, P.WORKORDERS_SUPERVISE},
        ),
        RoleInfo(
            "department_head",
            "部门责任人",
            "Department head",
            _OPERATIONS_READ
            | {
                P.NOTIFICATIONS_ACK,
                P.WORKORDERS_ACT,
                P.WORKORDERS_MANAGE,
                P.WORKORDERS_REVIEW,
                P.WORKORDERS_SUPERVISE,
                P.DUTY_ACT,
                P.DUTY_MANAGE,
            },
        ),
        RoleInfo(
            "business_admin",
            "业务管理员",
            "Business administrator",
            _OPERATIONS_READ
            | {
                P.RULES_WRITE,
                P.DEVICES_WRITE,
                P.WORKORDERS_ACT,
                P.WORKORDERS_MANAGE,
                P.NOTIFICATIONS_ACK,
                P.DUTY_ACT,
                P.DUTY_MANAGE,
            },
        ),
        RoleInfo(
            "handler",
            "处置人员",
            "Handler",
            frozenset(
                {
                    P.CATALOG_READ,
                    P.DEVICES_READ,
                    P.ALARMS_READ,
                    P.WORKORDERS_READ,
                    P.WORKORDERS_ACT,
                    P.NOTIFICATIONS_READ,
                    P.NOTIFICATIONS_OWN,
                    P.NOTIFICATIONS_ACK,
                    P.DUTY_READ,
                    P.DUTY_ACT,
                }
            ),
        ),
        RoleInfo(
            "tech_lead",
            "技术保障单位责任人",
            "Technical support lead",
            frozenset(
                {
                    P.CATALOG_READ,
                    P.DEVICES_READ,
                    P.ALARMS_READ,
                    P.REPORTS_READ,
                    P.NOTIFICATIONS_OWN,  # the notices of devices offline
                }
            ),
        ),
        RoleInfo(
            "tech_admin",
            "技术管理员",
            "Technical administrator",
            frozenset(
                {
                    P.CATALOG_READ,
                    P.DEVICES_READ,
                    P.DEVICES_WRITE,
                    P.RULES_READ,
                    P.ALARMS_READ,
                    P.NOTIFICATIONS_OWN,  # the notices of devices offline
                }
            ),
        ),
        RoleInfo(
            "system_admin",
            "系统管理员",
            "System administrator",
            frozenset({P.ACCOUNTS_READ, P.ACCOUNTS_WRITE, P.ROLES_READ, P.CATALOG_READ}),
            administrator=True,
        ),
        RoleInfo(
            "security_admin",
            "安全管理员",
            "Security administrator",
            frozenset({P.ROLES_READ, P.ACCOUNTS_READ}),
            administrator=True,
        ),
        RoleInfo(
            "audit_admin",
            "审计管理员",
            "Audit administrator",
            frozenset({P.AUDIT_READ}),
            administrator=True,
        ),
        RoleInfo(
            "gateway",
            "接入网关",
            "Gateway (machine account of a sector system)",
            frozenset(
                {
                    P.CATALOG_READ,
                    P.DEVICES_READ,
                    P.DEVICES_WRITE,
                    P.READINGS_WRITE,
                    P.SMS_INBOUND,
                    P.PROVIDER_CALLBACK,
                }
            ),
        ),
    )
}


def permissions_of(roles: tuple[str, ...] | list[str]) -> frozenset[Permission]:
    """What `roles` grant together; an unknown role grants nothing."""
    granted: set[Permission] = set()
    for role in roles:
        info = ROLES.get(role)
        if info is not None:
            granted |= info.permissions
    return frozenset(granted)


def separation_problem(roles: tuple[str, ...] | list[str]) -> str | None:
    """Why `roles` cannot be held together, or None. Level-3 graded protection separates the
    three administrators: each of their roles is held alone, never beside another
    administrator's or a business role (an auditor who also runs the business audits
    itself)."""
    admins = [r for r in roles if (info := ROLES.get(r)) is not None and info.administrator]
    if admins and len(set(roles)) > 1:
        return (
            f"{', '.join(admins)} is an administrator's role and is held alone "
            "(separation of the system, security and audit administrators)"
        )
    return None


ScopeKind = Literal["district", "sector", "town", "village"]
_SCOPE = re.compile(r"^(district)$|^(sector|town|village):([a-z0-9][a-z0-9_-]{0,63})$")


@dataclass(frozen=True, slots=True)
class Scope:
    """An account's part of the organisation: district > sector (department) > town > village.

    Sectors and towns cut the district two ways (departments and places); a town's scope holds
    every sector's objects in that town, a sector's holds that sector's objects everywhere.
    """

    kind: ScopeKind
    id: str | None = None

    @classmethod
    def parse(cls, text: str) -> Scope:
        match = _SCOPE.match(text)
        if match is None:
            raise ValueError(
                f"not a scope: {text[:80]!r} (district, sector:<id>, town:<id> or village:<id>)"
            )
        if match.group(1):
            return cls("district")
        kind: Any = match.group(2)
        return cls(kind, match.group(3))

    def __str__(self) -> str:
        return self.kind if self.id is None else f"{self.kind}:{self.id}"

    @property
    def is_district(self) -> bool:
        return self.kind == "district"

    def admits(
        self,
        *,
        sector_id: str | None = None,
        town_id: str | None = None,
        village_id: str | None = None,
    ) -> bool:
        """Whether an object placed here is inside the scope."""
        match self.kind:
            case "district":
                return True
            case "sector":
                return sector_id == self.id
            case "town":
                return town_id == self.id
            case "village":
                return village_id == self.id

    def holds(self, obj: Any) -> bool:
        """`admits` for an object with sector_id, town_id and village_id attributes (those it
        lacks count as unknown)."""
        return self.admits(
            sector_id=getattr(obj, "sector_id", None),
            town_id=getattr(obj, "town_id", None),
            village_id=getattr(obj, "village_id", None),
        )

    def on(self, model: Any) -> ColumnElement[bool]:
        """`clause` on a mapped class's own sector_id, town_id and village_id columns."""
        return self.clause(
            sector=getattr(model, "sector_id", None),
            town=getattr(model, "town_id", None),
            village=getattr(model, "village_id", None),
        )

    def clause(
        self,
        *,
        sector: Any = None,
        town: Any = None,
        village: Any = None,
    ) -> ColumnElement[bool]:
        """A WHERE condition on a table's placement columns; a kind the table cannot place
        (no such column) admits nothing outside the district scope."""
        column = {"district": None, "sector": sector, "town": town, "village": village}[self.kind]
        if self.kind == "district":
            return true()
        if column is None:
            return false()
        condition: ColumnElement[bool] = column == self.id
        return condition


DISTRICT = Scope("district")

if {r.value for r in Role} != set(ROLES):  # one vocabulary: the enum and the table agree
    raise RuntimeError("access.Role and access.ROLES disagree")
