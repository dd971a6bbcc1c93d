"""`riskwatch-ingest serve|migrate`."""

from __future__ import annotations

from riskwatch.common.cli import service_main
from riskwatch.ingest.app import create_app
from riskwatch.ingest.module import MIGRATIONS
from riskwatch.ingest.settings import IngestSettings


def main() -> int:
    settings = IngestSettings()
    return service_main(
        name="ingest",
        settings=settings,
        create_app=lambda: create_app(settings),
        migrations=[MIGRATIONS],
    )


if __name__ == "__main__":
    raise SystemExit(main())
