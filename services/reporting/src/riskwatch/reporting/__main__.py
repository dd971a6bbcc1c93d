"""`riskwatch-reporting serve|migrate`."""

from __future__ import annotations

from riskwatch.common.audit.module import MIGRATIONS as AUDIT_MIGRATIONS
from riskwatch.common.cli import service_main
from riskwatch.reporting.app import create_app
from riskwatch.reporting.module import MIGRATIONS
from riskwatch.reporting.settings import ReportingSettings


def main() -> int:
    settings = ReportingSettings()
    return service_main(
        name="reporting",
        settings=settings,
        create_app=lambda: create_app(settings),
        migrations=[MIGRATIONS, AUDIT_MIGRATIONS],
    )


if __name__ == "__main__":
    raise SystemExit(main())
