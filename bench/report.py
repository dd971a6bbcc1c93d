"""The run's figures on stdout, and its headline: one JSON object, the last line printed."""

from __future__ import annotations

from typing import Any

from procstat import MACHINE

# CPU windows shown in the summary table (every window is in the results file), in run order.
CPU_COLUMNS = (
    ("bare packed", "bare pk"),
    ("bare per-device", "bare 1/r"),
    ("load", "load"),
    ("load catch-up", "catch-up"),
    ("mqtt", "mqtt"),
    ("half", "half"),
    ("isolation_alone", "iso alone"),
    ("isolation_with", "iso with"),
    ("soak", "soak"),
)
PHASES = ("load", "mqtt", "half", "soak")


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:,.0f} ms" if v < 10 else f"{v:,.1f} s"


def _p99_ms(phase: dict[str, Any] | None, key: str = "delivered") -> float | None:
    if not phase:
        return None
    v = phase["latency_seconds"][f"reading_to_notification_{key}"]["p99"]
    return None if v is None else round(1000 * v, 1)


def headline(doc: dict[str, Any]) -> dict[str, Any]:
    """The figures the throughput issue asks for, in one flat object (None: not measured)."""
    r = doc["results"]
    load, half, soak = r.get("load"), r.get("half"), r.get("soak")
    bare = r.get("bare_pipe") or {}
    iso = r.get("isolation") or {}
    scale = r.get("scaleout")
    accepted = load["ingest"]["accepted_per_s"] if load else None
    mqtt = r.get("mqtt")
    evaluated = load["alerting"]["evaluated_per_s"] if load else None
    packed = bare["packed"]["readings_per_s"] if bare else None
    per_device = bare["per_device"]["readings_per_s"] if bare else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 4) if a is not None and b else None

    emergency = iso.get("emergency") or {}
    return {
        "mode": doc["mode"],
        "started_at": doc["started_at"],
        "accepted_per_s": accepted,
        "evaluated_per_s": evaluated,
        "mqtt_accepted_per_s": mqtt["ingest"]["accepted_per_s"] if mqtt else None,
        "mqtt_evaluated_per_s": mqtt["alerting"]["evaluated_per_s"] if mqtt else None,
        "caught_up": load["alerting"]["caught_up"] if load else None,
        "backlog_at_load_stop": load["alerting"]["backlog_at_load_stop"] if load else None,
        "backlog_slope_per_s": load["alerting"]["backlog_slope_per_s"] if load else None,
        "backlog_grew": load["alerting"]["backlog_grew"] if load else None,
        "bare_per_s": packed,
        "bare_per_device_per_s": per_device,
        "ratio": ratio(evaluated, packed),
        "ratio_vs_per_device": ratio(evaluated, per_device),
        "half_load_rate": half["rate"] if half else None,
        "p99_ms_half_load": _p99_ms(half),
        "p99_ms_half_load_created": _p99_ms(half, "created"),
        "p99_ms_isolation_alone": _p99_ms(iso.get("alone")),
        "p99_ms_isolation_with": _p99_ms(iso.get("with_emergency")),
        "isolation_p99_ratio": iso.get("p99_ratio"),
        "construction_kept_up": iso.get("construction_kept_up"),
        "emergency_accepted_per_s": emergency.get("accepted_per_s"),
        "emergency_evaluated_per_s": emergency.get("evaluated_per_s"),
        "emergency_cpu_limit": iso["cpu_limit"]["kind"] if iso else None,
        "emergency_budget": iso.get("emergency_budget"),
        "scaleout_one_per_s": scale["one_process"]["evaluated_per_s"] if scale else None,
        "scaleout_two_per_s": scale["two_processes"]["evaluated_per_s"] if scale else None,
        "scaleout_speedup": scale["speedup"] if scale else None,
        "soak_seconds": soak["duration"] if soak else None,
        "p99_ms_soak": _p99_ms(soak),
        "rss_mb": r["rss_mb"],
    }


def _latency_lines(phase: dict[str, Any], indent: str, stages: bool = False) -> None:
    lat = phase["latency_seconds"]
    a = phase["alarms"]
    print(
        f"{indent}alarms: {a['breaches_sent']} breaches -> {a['alarms_raised']} alarms, "
        f"{a['work_orders']} work orders, {a['notifications']} notifications "
        f"(per alarm {a['notifications_per_alarm']}"
        + ("" if a["all_notified"] else "; NOT all settled")
        + ")"
    )
    rows = [
        (k, lat[k])
        for k in ("reading_to_notification_created", "reading_to_notification_delivered")
    ]
    if stages:
        rows += list(lat["stages"].items())
    for key, s in rows:
        print(
            f"{indent}{key.replace('_', ' '):36s} n={s['count']:<5} p50 {_ms(s['p50'])}  "
            f"p95 {_ms(s['p95'])}  p99 {_ms(s['p99'])}  max {_ms(s['max'])}"
        )


def _throughput_lines(phase: dict[str, Any], indent: str) -> None:
    ing = phase["ingest"]
    print(
        f"{indent}ingest accepted     {ing['accepted_per_s']:>10,.0f} readings/s  "
        f"({ing['accepted']:,} in {ing['load_seconds']:.1f} s, {ing['requests']} requests "
        f"{ing['statuses']}, request p50 {_ms(ing['request_seconds']['p50'])} "
        f"p99 {_ms(ing['request_seconds']['p99'])})"
    )
    _alerting_lines(phase, indent)


def _mqtt_lines(phase: dict[str, Any], indent: str) -> None:
    ing, m = phase["ingest"], phase["ingest"]["messages"]
    print(
        f"{indent}ingest accepted     {ing['accepted_per_s']:>10,.0f} readings/s  "
        f"({ing['accepted']:,} in {ing['load_seconds']:.1f} s, {m['messages']:,} messages "
        f"taken: {m['handled']:,} handled, {m['unparseable']} unparseable, {m['failed']} "
        f"failed; {ing['rejected']} readings rejected, {ing['duplicates']} duplicates"
        + ("" if ing["drained"] else "; NOT all taken")
        + ")"
    )
    print(
        f"{indent}publish -> broker's PUBACK p50 {_ms(ing['request_seconds']['p50'])} "
        f"p99 {_ms(ing['request_seconds']['p99'])}; ingest published "
        f"{ing['metric_records_published']:,.0f} records ({ing['records_per_message']} a message)"
    )
    print(
        f"{indent}when publishing stopped ingest had {ing['backlog_at_stop']:,} messages to take "
        f"(taken in {ing['drain_seconds']:.1f} s)"
    )
    _alerting_lines(phase, indent)


def _alerting_lines(phase: dict[str, Any], indent: str) -> None:
    alt = phase["alerting"]
    print(
        f"{indent}alerting evaluated  {alt['evaluated_per_s']:>10,.0f} readings/s  "
        f"({alt['evaluated']:,.0f} in {alt['seconds_from_load_start']:.1f} s from load start, "
        f"{'caught up' if alt['caught_up'] else 'NOT caught up'} "
        f"{alt['seconds_after_load_stop']:.1f} s after the load; "
        f"{alt['evaluated_per_s_during_load']:,.0f}/s during it)"
    )
    slope = alt["backlog_slope_per_s"]
    print(
        f"{indent}backlog at load stop {alt['backlog_at_load_stop']:,.0f} readings; during the "
        f"load it {'GREW' if alt['backlog_grew'] else 'did not grow'} "
        f"(slope {'-' if slope is None else f'{slope:+,.0f}'} readings/s)"
    )
    if alt["handle_ms_per_record"] is not None:
        print(
            f"{indent}readings consumer: {alt['records_handled']:,.0f} records, "
            f"{alt['handle_ms_per_record']:.2f} ms each in the batch handler, busy "
            f"{100 * (alt['consumer_busy_fraction'] or 0):.0f}% of the time"
        )


def _cpu_table(r: dict[str, Any]) -> None:
    windows: dict[str, dict[str, Any]] = {}
    for part in (r.get("bare_pipe") or {}).values():
        windows.update(part["cpu"])
    for name in PHASES:
        if name in r:
            windows.update(r[name]["cpu"])
    for name in ("alone", "with_emergency"):
        if name in r.get("isolation", {}):
            windows.update(r["isolation"][name]["cpu"])
    columns = [(key, label) for key, label in CPU_COLUMNS if key in windows]
    if not columns:
        return
    print("  CPU, % of one core (the machine has 2 cores = 200 %); window seconds in brackets")
    print("    " + " " * 26 + "".join(f"{label:>10}" for _, label in columns))
    print(
        "    "
        + " " * 26
        + "".join(f"{'(' + format(windows[k]['seconds'], '.0f') + ' s)':>10}" for k, _ in columns)
    )
    names: set[str] = set()
    for key, _ in columns:
        procs = windows[key]["processes"]
        names |= {n for n, v in procs.items() if v["cpu_seconds"] >= 0.05 or n == MACHINE}
    first = columns[0][0] if "load" not in windows else "load"

    def order(n: str) -> tuple[bool, float]:
        return n == MACHINE, -windows[first]["processes"].get(n, {}).get("cpu_percent", 0.0)

    for n in sorted(names, key=order):
        cells = []
        for key, _ in columns:
            v = windows[key]["processes"].get(n)
            cells.append(f"{v['cpu_percent']:>10.1f}" if v else f"{'-':>10}")
        print(f"    {n:26s}" + "".join(cells))


def _rss_table(r: dict[str, Any]) -> None:
    phases = [(n, r[n]["rss_mb"]) for n in PHASES if n in r]
    if "isolation" in r:
        phases += [
            ("iso alone", r["isolation"]["alone"]["rss_mb"]),
            ("iso with", r["isolation"]["with_emergency"]["rss_mb"]),
        ]
    run = r["rss_mb"]
    names = list(run) + sorted({n for _, p in phases for n in p} - set(run))
    print(
        "  RSS, MiB (psutil, summed over each process tree; PostgreSQL counts shared buffers "
        "per backend): start, end of each phase, run peak"
    )
    print(
        "    "
        + " " * 26
        + f"{'start':>9}"
        + "".join(f"{name:>11}" for name, _ in phases)
        + f"{'peak':>9}"
    )
    for n in names:
        whole = run.get(n)
        cells = [f"{whole['start']:>9.0f}" if whole else f"{'-':>9}"]
        for _, p in phases:
            cells.append(f"{p[n]['end']:>11.0f}" if n in p and p[n]["end"] else f"{'-':>11}")
        peak = max([p[n]["peak"] for _, p in phases if n in p] + ([whole["peak"]] if whole else []))
        cells.append(f"{peak:>9.0f}")
        print(f"    {n:26s}" + "".join(cells))


def print_summary(doc: dict[str, Any]) -> None:
    r = doc["results"]
    cfg = doc["config"]
    print()
    print(
        f"RiskWatch benchmark {doc['started_at']} ({doc['mode']}): {cfg['devices']} devices, "
        f"{cfg['batch_size']} readings/request, {cfg['concurrency']} in flight, "
        f"{cfg['readings_per_device']} reading(s)/device/request, "
        f"{cfg['breaches_per_second']:g} breaches/s"
    )
    bare = r.get("bare_pipe")
    if bare:
        print("  bare aiokafka pipe on the same broker:")
        for key, what in (
            ("packed", "packed (the records ingest publishes)"),
            ("per_device", "per device (one reading per record)"),
        ):
            b = bare[key]
            print(
                f"    {what:40s} {b['readings_per_s']:>10,.0f} readings/s  ({b['records']:,} "
                f"records of {b['readings_per_record']:g} reading(s), {b['value_bytes']:.0f} B "
                f"value + {b['header_bytes']:.0f} B headers; producer alone "
                f"{b['producer_records_per_s']:,.0f} records/s)"
            )
    load = r.get("load")
    if load:
        print(f"  closed loop, {load['duration']:.0f} s:")
        _throughput_lines(load, "    ")
        evaluated = load["alerting"]["evaluated_per_s"]
        if bare:
            packed, per_device = (bare[k]["readings_per_s"] for k in ("packed", "per_device"))
            print(
                f"    ratio evaluated / bare packed {evaluated / packed:.3f}, "
                f"/ bare per-device {evaluated / per_device:.3f}"
            )
        _latency_lines(load, "    ")
        for name, prof in load["profiles"].items():
            packages = ", ".join(
                f"{row['package']} {row['percent']:.0f}%"
                for row in prof.get("self_by_package", [])[:6]
            )
            print(
                f"    py-spy {name}: {prof.get('samples', 0)} samples; self by package: {packages}"
            )
            for row in prof.get("self", [])[:12]:
                print(f"      {row['percent']:5.1f} %  {row['function']}")
    mqtt = r.get("mqtt")
    if mqtt:
        print(
            f"  MQTT closed loop, {mqtt['duration']:.0f} s: {mqtt['devices']} devices, one "
            f"connection each to {mqtt['broker']}, {mqtt['readings_per_message']} reading(s) a "
            f"message, QoS 1, {mqtt['inflight_per_connection']} publishes in flight each"
        )
        _mqtt_lines(mqtt, "    ")
        if load:
            ratio = mqtt["ingest"]["accepted_per_s"] / load["ingest"]["accepted_per_s"]
            print(f"    MQTT / HTTP accepted readings/s: {ratio:.3f}")
    for name, title in (("half", "half load"), ("soak", "soak")):
        phase = r.get(name)
        if phase:
            print(
                f"  {title}, paced at {phase['rate']:,.0f} readings/s ({phase['rate_basis']}) "
                f"for {phase['duration']:.0f} s:"
            )
            _throughput_lines(phase, "    ")
            _latency_lines(phase, "    ", stages=True)
    iso = r.get("isolation")
    if iso:
        e = iso["emergency"]
        print(
            f"  sector isolation: construction paced at {iso['construction_rate']:,.0f} readings/s"
            f" for {iso['duration']:.0f} s, alone, then with emergency saturated"
        )
        budget = iso.get("emergency_budget")
        print(
            f"    emergency ingest + alerting: {iso['cpu_limit']['describe']}; ingest budget "
            + (f"{budget:,} readings/s" if budget else "none")
        )
        for key, title in (("alone", "alone"), ("with_emergency", "with emergency saturated")):
            leg = iso[key]
            alt = leg["alerting"]
            print(
                f"    {title}: construction accepted {leg['ingest']['accepted_per_s']:,.0f}/s, "
                f"evaluated {alt['evaluated_per_s_during_load']:,.0f}/s during the load, backlog "
                f"{'GREW' if alt['backlog_grew'] else 'did not grow'}, "
                f"{'caught up' if alt['caught_up'] else 'NOT caught up'} "
                f"{alt['seconds_after_load_stop']:.1f} s after"
            )
            _latency_lines(leg, "      ")
        lim = iso["cpu_limit"]
        throttle = (
            f"; throttled in {100 * lim['throttled_share']:.0f}% of the quota periods"
            if lim.get("throttled_share") is not None
            else ""
        )
        print(
            f"    emergency during construction's window: accepted {e['accepted_per_s']:,.0f}/s, "
            f"evaluated {e['evaluated_per_s']:,.0f}/s, backlog {e['backlog_at_window_end']:,.0f}"
            f"{throttle}"
        )
        ratio = iso["p99_ratio"]
        print(
            f"    p99 reading -> notification delivered: alone "
            f"{_ms(iso['p99_delivered_alone_s'])}, with emergency saturated "
            f"{_ms(iso['p99_delivered_with_emergency_s'])}, ratio "
            f"{'-' if ratio is None else f'{ratio:.2f}'} (target <= 1.2); construction's "
            f"alerting {'kept up' if iso['construction_kept_up'] else 'did NOT keep up'}"
        )
    scale = r.get("scaleout")
    if scale:
        print(
            f"  scale-out: equal backlogs of {scale['backlog_readings']:,} readings, drained "
            "with nothing else running, from a stable consumer group"
        )
        for key in ("one_process", "two_processes"):
            d = scale[key]
            print(
                f"    {d['processes']} alerting process(es): {d['evaluated_per_s']:>10,.0f} "
                f"readings/s ({d['evaluated']:,.0f} in {d['seconds']:.2f} s"
                f"{'' if d['drained'] else ', did NOT finish'}; machine CPU "
                f"{d['cpu']['processes'][MACHINE]['cpu_percent']:.0f} %)"
            )
        speedup = scale["speedup"]
        print(f"    two / one: {'-' if speedup is None else f'{speedup:.2f}'}")
    _cpu_table(r)
    _rss_table(r)
    soak = r.get("soak")
    if soak and soak.get("rss_series"):
        print("  RSS during the soak, MiB, every --rss-interval:")
        for point in soak["rss_series"]:
            sizes = ", ".join(f"{k} {v:.0f}" for k, v in point["rss_mb"].items())
            print(f"    t={point['t']:>6.0f} s  {sizes}")
