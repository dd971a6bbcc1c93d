"""Fixtures of the fault suite: one distributed stack for all its cases, and the results."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from .case import Results, format_line
from .rig import Rig, started_rig

RESULTS_FILE = Path(__file__).parent / "results.json"
_RESULTS: list[Results] = []


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="module")
def rig(results: Results) -> Iterator[Rig]:
    """PostgreSQL, a Kafka broker and the five services, started once for the module.

    SIGTERM becomes a KeyboardInterrupt meanwhile, so a terminated run still stops them."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with started_rig() as started:
            results.notes["state_dir"] = str(started.stack.state_dir)
            results.notes["stack_start_s"] = {
                k: round(v, 1) for k, v in started.stack.timings.items()
            }
            yield started
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def results(request: pytest.FixtureRequest) -> Results:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def write_line(line: str) -> None:
        """A case's line on the terminal as soon as it is known, past output capturing."""
        if reporter is None:
            return
        if capture is None:
            reporter.write_line(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    recorded = Results(RESULTS_FILE, write_line)
    _RESULTS.append(recorded)
    return recorded


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for recorded in _RESULTS:
        if not recorded.cases:
            continue
        terminalreporter.section("fault injection: per-case results")
        for entry in recorded.cases:
            terminalreporter.write_line(format_line(entry))
        terminalreporter.write_line(
            f"results: {recorded.path}; stack logs: {recorded.notes.get('state_dir')}/logs"
        )
