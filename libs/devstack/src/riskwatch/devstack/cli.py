"""`riskwatch-devstack`: fetch Kafka, and bring the distributed stack up, down, or report on it."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from riskwatch.devstack._util import DevstackError
from riskwatch.devstack.kafka import ensure_jars
from riskwatch.devstack.supervisor import (
    DEFAULT_COMMAND,
    SERVICES,
    Stack,
    StackConfig,
    status,
    stop_from_state,
)


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        _out("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _cmd_fetch_kafka(args: argparse.Namespace) -> int:
    _out(str(ensure_jars(args.cache_dir)))
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    services = tuple(replace(spec, port=spec.port + args.port_offset) for spec in SERVICES)
    config = StackConfig.from_env(
        args.state_dir, command=tuple(shlex.split(args.service_command)), services=services
    )
    stack = Stack(config)
    state = stack.start()
    rows = [["component", "pid", "address"]]
    pg, kafka = state["postgres"], state["kafka"]
    rows.append(["postgres", str(pg.get("pid") or "-"), pg["url"]])
    rows.append(["kafka", str(kafka.get("pid") or "-"), kafka["bootstrap"]])
    rows += [[s["name"], str(s["pid"]), s["url"]] for s in state["services"]]
    _table(rows)
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in stack.timings.items())
    _out(f"\nup in {timings}; logs in {stack.logs_dir}; stop with `riskwatch-devstack down`")
    _out(
        f"login: admin / the password in {stack.state_dir / 'admin-password'}; demo accounts "
        f"(README) / the password in {stack.state_dir / 'demo-password'}; "
        "`make simulate` feeds demo readings"
    )
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    stopped = stop_from_state(args.state_dir)
    _out("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    rows = status(args.state_dir)
    if not rows:
        _out(f"no stack recorded in {args.state_dir}")
        return 1
    table = [["component", "pid", "state", "address"]]
    for row in rows:
        state = ("up" if row.alive else "DOWN") + (f" ({row.detail})" if row.detail else "")
        table.append([row.name, str(row.pid or "-"), state, row.endpoint])
    _table(table)
    return 0 if all(row.alive for row in rows) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="riskwatch-devstack",
        description="Run RiskWatch's infrastructure and services as local OS processes.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    fetch = sub.add_parser("fetch-kafka", help="download the Kafka broker jars (Maven)")
    fetch.add_argument(
        "--cache-dir", type=Path, default=None, help="default: $RW_CACHE_DIR or ~/.cache/riskwatch"
    )
    fetch.set_defaults(func=_cmd_fetch_kafka)

    state_help = "where data, logs and state.json live (default: .devstack)"
    up = sub.add_parser("up", help="start PostgreSQL, Kafka and the five services")
    up.add_argument("--state-dir", type=Path, default=Path(".devstack"), help=state_help)
    up.add_argument(
        "--service-command",
        default=" ".join(DEFAULT_COMMAND),
        help="command template per service; {service} and {action} (migrate|serve) are "
        "filled in (default: %(default)s)",
    )
    up.add_argument(
        "--port-offset",
        type=int,
        default=0,
        help="added to every service port (8001-8005), to run beside another stack",
    )
    up.set_defaults(func=_cmd_up)

    down = sub.add_parser("down", help="stop everything `up` started")
    down.add_argument("--state-dir", type=Path, default=Path(".devstack"), help=state_help)
    down.set_defaults(func=_cmd_down)

    st = sub.add_parser("status", help="show what is running")
    st.add_argument("--state-dir", type=Path, default=Path(".devstack"), help=state_help)
    st.set_defaults(func=_cmd_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code: int = args.func(args)
    except DevstackError as exc:
        sys.stderr.write(f"riskwatch-devstack: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
