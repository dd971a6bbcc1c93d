"""`riskwatch-workorder serve|migrate`."""

from __future__ import annotations

from riskwatch.common.cli import service_main
from riskwatch.workorder.app import create_app
from riskwatch.workorder.module import MIGRATIONS
from riskwatch.workorder.settings import WorkOrderSettings


def main() -> int:
    settings = WorkOrderSettings()
    return service_main(
        name="workorder",
        settings=settings,
        create_app=lambda: create_app(settings),
        migrations=[MIGRATIONS],
    )


if __name__ == "__main__":
    raise SystemExit(main())
