"""`riskwatch-notify serve|migrate`."""

from __future__ import annotations

from riskwatch.common.cli import service_main
from riskwatch.notify.app import create_app
from riskwatch.notify.module import MIGRATIONS
from riskwatch.notify.settings import NotifySettings


def main() -> int:
    settings = NotifySettings()
    return service_main(
        name="notify",
        settings=settings,
        create_app=lambda: create_app(settings),
        migrations=[MIGRATIONS],
    )


if __name__ == "__main__":
    raise SystemExit(main())
