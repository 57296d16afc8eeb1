#!/usr/bin/env python3
"""Turns the chat-bench reports of one `bench/run.sh` into its JSON file and tables.

Usage: report.py RESULTS.jsonl OUT.json [--check]   (machine facts from the
environment: CPU, NPROC, MEM, KERNEL, REDIS_VERSION, INSPIRCD_VERSION, NGIRCD_VERSION,
GIT_REV, STORE_NOTE; run.sh sets them). With --check it exits 1 when a run failed,
counted errors, lost or duplicated a message, or did no work: the figures themselves
are never pass/fail. Runs that could not be made (`"skipped"`) are listed, not failed.

The targets of issue 6 are checked against the median over the side-by-side rounds
of each round's own ratio (chat against redis measured a minute apart on a shared
VM would compare the machine's moods, not the servers).
"""

import datetime
import json
import os
import re
import statistics
import sys

ROUND = re.compile(r"^round (\d+): (.*)$")
DELIVERY = re.compile(r"^delivery (\S+): (\S+) (.*)$")
REDIS_PING = "redis PING @50"
REDIS_AOF = "redis SET, appendfsync always @50"
TARGETS = (  # (run, least share of redis PING)
    ("chat inbox @50", 0.8),
    ("chat send @50", 0.5),
    ("chat ping @50", None),
)
INBOX_P99_LIMIT_US = 1000
# The ratio columns of the rounds table: (run, reference).
RATIOS = (("chat inbox @50", REDIS_PING), ("chat send @50", REDIS_PING), ("chat send @50", REDIS_AOF))


def ms(us):
    return "-" if us is None else f"{us / 1000:.3f}"


def lat(run, key):
    return (run.get("latency") or {}).get(key)


def ok(run):
    return run is not None and "failed" not in run


def rounds_of(runs):
    """{round number: {run name: report}} for the side-by-side runs."""
    rounds = {}
    for r in runs:
        m = ROUND.match(r["label"])
        if m:
            rounds.setdefault(int(m.group(1)), {})[m.group(2)] = r
    return rounds


def ratios(rounds, name, reference):
    """Per round: ops/s of `name` over ops/s of `reference`, where both ran."""
    out = []
    for runs in rounds.values():
        a, b = runs.get(name), runs.get(reference)
        if ok(a) and ok(b) and b["ops_per_s"] > 0:
            out.append(a["ops_per_s"] / b["ops_per_s"])
    return out


def rounds_table(rounds):
    names = [REDIS_PING, "chat ping @50", "chat inbox @50", "chat send @50", REDIS_AOF]
    short = ["redis PING", "chat ping", "chat inbox", "chat send", "redis SET (fsync always)"]
    lines = [
        "| round | " + " | ".join(f"{s} ops/s (p99 ms)" for s in short)
        + " | inbox / PING | send / PING | send / redis SET |",
        "|---:|" + "---:|" * (len(names) + 3),
    ]
    for k in sorted(rounds):
        cells = []
        for n in names:
            r = rounds[k].get(n)
            cells.append(f"{r['ops_per_s']:,.0f} ({ms(lat(r, 'p99_us'))})" if ok(r) else "FAILED")
        one = {k: rounds[k]}
        for name, ref in RATIOS:
            q = ratios(one, name, ref)
            cells.append(f"{q[0]:.0%}" if q else "-")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    med = []
    for n in names:
        ops = [rounds[k][n]["ops_per_s"] for k in rounds if ok(rounds[k].get(n))]
        p99 = [lat(rounds[k][n], "p99_us") for k in rounds if ok(rounds[k].get(n))]
        med.append(f"{statistics.median(ops):,.0f} ({ms(statistics.median(p99))})" if ops else "-")
    for name, ref in RATIOS:
        q = ratios(rounds, name, ref)
        med.append(f"{statistics.median(q):.0%}" if q else "-")
    lines.append("| median | " + " | ".join(med) + " |")
    return lines


def targets(rounds):
    lines = []
    for name, target in TARGETS:
        q = ratios(rounds, name, REDIS_PING)
        if not q:
            continue
        med = statistics.median(q)
        spread = f"rounds {min(q):.0%}-{max(q):.0%}"
        goal = f"; target >= {target:.0%}: {'met' if med >= target else 'NOT met'}" if target else ""
        lines.append(f"- {name}: median {med:.0%} of redis PING @50 ({spread}){goal}")
    p99 = [lat(r["chat inbox @50"], "p99_us") for r in rounds.values() if ok(r.get("chat inbox @50"))]
    if p99:
        med = statistics.median(p99)
        met = "met" if med < INBOX_P99_LIMIT_US else "NOT met"
        lines.append(f"- chat inbox @50 p99: median {ms(med)} ms (rounds {ms(min(p99))}-{ms(max(p99))})"
                     f"; target < {ms(INBOX_P99_LIMIT_US)} ms: {met}")
    q = ratios(rounds, REDIS_AOF, REDIS_PING)
    if q:
        lines.append(f"- {REDIS_AOF} (redis's own durable write): median {statistics.median(q):.0%} "
                     f"of redis PING @50 (rounds {min(q):.0%}-{max(q):.0%})")
    q = ratios(rounds, "chat send @50", REDIS_AOF)
    if q:
        lines.append(f"- chat send @50 (SQLite, fsync'd group commit) against redis SET with appendfsync "
                     f"always: median {statistics.median(q):.0%} (rounds {min(q):.0%}-{max(q):.0%})")
    return lines


def curve_table(by):
    points = sorted({int(m.group(1)) for label in by for m in [re.match(r"^chat inbox @(\d+)$", label)] if m})
    lines = [
        "| conns | chat inbox ops/s | p50 ms | p99 ms | redis PING ops/s | p50 ms | p99 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in points:
        cells = []
        for label in (f"chat inbox @{n}", f"redis PING @{n}"):
            r = by.get(label)
            if ok(r):
                cells += [f"{r['ops_per_s']:,.0f}", ms(lat(r, "p50_us")), ms(lat(r, "p99_us"))]
            else:
                cells += ["FAILED", "-", "-"]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return lines


def other_table(runs):
    lines = [
        "| run | conns | p50 ms | p99 ms | p99.9 ms | max ms | errors | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        if "failed" in r:
            lines.append(f"| {r['label']} | | | | | | | FAILED: {r['failed']} |")
            continue
        if r.get("idle"):
            i = r["idle"]
            b = i.get("burst") or {}
            per = i.get("server_bytes_per_connection")
            note = f"{i['established']}/{i['requested']} held; "
            if per is not None:
                note += (f"server RSS {i.get('server_rss_before_kib')} -> {i.get('server_rss_after_kib')} KiB "
                         f"({per / 1024:.2f} KiB/conn); ")
            note += (f"burst: {b.get('answered')}/{b.get('sent')} answered, "
                     f"{b.get('within_deadline')} within {b.get('deadline_s')} s")
        elif r.get("mix"):
            x = r["mix"]
            note = (f"{r['ops_per_s']:,.0f} requests/s: {x['inbox']} inbox, {x['user_aktif']} user_aktif, "
                    f"{x['send']} send; {x['late_polls']} late polls")
        else:
            note = f"{r['ops_per_s']:,.0f} ops/s"
        lines.append(f"| {r['label']} | {r['connections']} | {ms(lat(r, 'p50_us'))} | {ms(lat(r, 'p99_us'))} | "
                     f"{ms(lat(r, 'p999_us'))} | {ms(lat(r, 'max_us'))} | {r['errors']['total']} | {note} |")
    return lines


def delivery_table(runs):
    """One row per delivery run (issue 14) and fan-out run (issue 18), skipped ones noted."""
    lines = [
        "| server | receive | pairs | rate msg/s | delivered | p50 ms | p99 ms | max ms | lost | dup "
        "| CPU µs/msg | requests/receiver/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        m = DELIVERY.match(r["label"])
        server, receive, shape = m.groups() if m else (r["label"], "", "")
        if "skipped" in r or "failed" in r:
            why = f"skipped: {r['skipped']}" if "skipped" in r else f"FAILED: {r['failed']}"
            lines.append(f"| {server} | {receive} | {shape} | | | | | | | | | {why} |")
            continue
        d = r["delivery"]
        who = f"fan-out {d['fanout']}" if d.get("fanout") else f"{d['pairs']:,}"
        receive = "push (PRIVMSG)" if d["receive"] == "push" else d["receive"]
        cpu = d.get("server_cpu_us_per_message")
        cpu = "-" if cpu is None else f"{cpu:.1f}"
        errors = r["errors"]["total"]
        note = f" ({errors} errors)" if errors else ""
        lines.append(
            f"| {server} | {receive} | {who} | {d['rate_per_sender']:g} | {d['delivered']:,}{note} | "
            f"{ms(lat(r, 'p50_us'))} | {ms(lat(r, 'p99_us'))} | {ms(lat(r, 'max_us'))} | "
            f"{d['lost']} | {d['duplicates']} | {cpu} | {d['requests_per_receiver_per_s']:.2f} |")
    return lines


def problems(runs):
    """Why the runs are not clean, one line each: failed, counted errors, lost or
    duplicated messages, or did nothing. Skipped runs are not problems."""
    out = []
    for r in runs:
        if "skipped" in r:
            continue
        if "failed" in r:
            out.append(f"{r['label']}: failed: {r['failed']}")
        elif r["errors"]["total"] > 0:
            out.append(f"{r['label']}: {r['errors']['total']} errors")
        elif r.get("delivery") and (r["delivery"]["lost"] or r["delivery"]["duplicates"]
                                    or r["delivery"]["unexpected"]):
            d = r["delivery"]
            out.append(f"{r['label']}: {d['lost']} lost, {d['duplicates']} duplicated, "
                       f"{d['unexpected']} unexpected messages")
        elif r.get("idle"):
            i = r["idle"]
            if i["established"] < i["requested"]:
                out.append(f"{r['label']}: {i['established']}/{i['requested']} connections held")
        elif r["ops"] == 0:
            out.append(f"{r['label']}: no operations")
    return out


def main(results_path, out_path, check=False):
    runs = [json.loads(line) for line in open(results_path) if line.strip()]
    env = os.environ
    doc = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpu": env.get("CPU", "?"), "nproc": int(env.get("NPROC", "0")), "memory": env.get("MEM", "?"),
            "kernel": env.get("KERNEL", "?"), "redis": env.get("REDIS_VERSION", "?"),
            "inspircd": env.get("INSPIRCD_VERSION", ""), "ngircd": env.get("NGIRCD_VERSION", ""),
        },
        "git": env.get("GIT_REV", "unknown"),
        "chat_store": env.get("STORE_NOTE", "?"),
        "runs": runs,
    }
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

    m = doc["machine"]
    print(f"\n{doc['date']}, {m['cpu']}, {m['nproc']} CPUs, {m['memory']} RAM, Linux {m['kernel']}, "
          f"redis {m['redis']}, chat-server {doc['git']} (--db {doc['chat_store']}); "
          "tool and servers share the CPUs.\n")
    rounds = rounds_of(runs)
    if rounds:
        print(f"Side by side, {len(rounds)} rounds, 50 connections each:\n")
        print("\n".join(rounds_table(rounds)))
        print()
        print("\n".join(targets(rounds)))
    deliveries = [r for r in runs if DELIVERY.match(r["label"])]
    rest = [r for r in runs if not ROUND.match(r["label"]) and r not in deliveries]
    by = {r["label"]: r for r in rest}
    curve = [r for r in rest if re.match(r"^(chat inbox|redis PING) @\d+$", r["label"])]
    if curve:
        print("\nCost vs connections:\n")
        print("\n".join(curve_table(by)))
    others = [r for r in rest if r not in curve]
    if others:
        print()
        print("\n".join(other_table(others)))
    if deliveries:
        peers = ", ".join(v for v in (m.get("inspircd"), m.get("ngircd")) if v)
        print(f"\nDelivery: send-to-receive latency, lost/duplicated messages, server CPU per message "
              f"received in the window ({peers}):\n")
        print("\n".join(delivery_table(deliveries)))
    print(f"\nJSON: {out_path}")
    if check:
        found = problems(runs)
        for line in found:
            print(f"check: {line}", file=sys.stderr)
        if found or not runs:
            sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], check="--check" in sys.argv[3:])
