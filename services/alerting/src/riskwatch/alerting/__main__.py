"""`riskwatch-alerting serve|migrate`."""

from __future__ import annotations

from riskwatch.alerting.app import create_app
from riskwatch.alerting.module import MIGRATIONS
from riskwatch.alerting.settings import AlertingSettings
from riskwatch.common.cli import service_main


def main() -> int:
    settings = AlertingSettings()
    return service_main(
        name="alerting",
        settings=settings,
        create_app=lambda: create_app(settings),
        migrations=[MIGRATIONS],
    )


if __name__ == "__main__":
    raise SystemExit(main())
