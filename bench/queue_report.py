#!/usr/bin/env python3
"""Prints bench/run-queue's table: medians per (peer, mode, workers) and the
ratios the work-queue issue sets targets for."""
import json
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)
cpu = defaultdict(list)
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line)
    runs[(r["peer"], r["mode"], r["workers"])].append(r["jobs_per_second"])
    if "cpu_us_per_job" in r:
        cpu[(r["peer"], r["mode"], r["workers"])].append(r["cpu_us_per_job"])
jobs = json.loads(open(sys.argv[1]).readline())["jobs"]


def med(peer, mode, w):
    v = runs.get((peer, mode, w))
    return statistics.median(v) if v else None


def fmt(x):
    return "-" if x is None else f"{x:,.0f}"


rows = [("insert, one at a time", "insert-one", "insert-one", 1, 2.0),
        ("insert, one batch", "insert-batch", "insert-batch", 1, None)]
for w in (1, 2, 4):
    rows.append((f"drain per job, {w} worker{'s' if w > 1 else ''}",
                 "drain", "drain", w, 2.0))
for w in (1, 2, 4):
    rows.append((f"drain per job, 2 commits/job, {w} worker{'s' if w > 1 else ''}",
                 "drain-2commit", "drain", w, None))
for w in (1, 2, 4):
    rows.append((f"drain per job, asynchronous commit, {w} worker{'s' if w > 1 else ''}",
                 "drain-async", "drain", w, 2.0))
for w in (1, 2, 4):
    rows.append((f"bare claim loop (no completion, not a queue), {w} worker{'s' if w > 1 else ''}",
                 "drain-bare", "drain", w, None))
for w in (1, 2, 4):
    rows.append((f"drain per job through db::Worker, {w} worker{'s' if w > 1 else ''}",
                 "drain-worker", "drain", w, None))
for w in (1, 2, 4):
    rows.append((f"drain batched, {w} worker{'s' if w > 1 else ''}",
                 "drain-batched", "drain-batched", w, 1.0))

n = max((len(v) for v in runs.values()), default=0)
print(f"Jobs per second, median of {n} runs of {jobs:,} jobs "
      "(soundhash-db vs graphile-worker 0.17.3, same server, fsync on)\n")
print("| operation | soundhash-db | graphile-worker | ratio | target |")
print("| --- | ---: | ---: | ---: | --- |")
for label, ours, theirs, w, target in rows:
    a, b = med("soundhash-db", ours, w), med("graphile-worker", theirs, w)
    ratio = f"{a / b:.2f}x" if a and b else "-"
    goal = "-" if target is None else (f">= {target:g}x" if target > 1 else "> 1x")
    ok = ""
    if target is not None and a and b:
        ok = " ok" if a / b >= target and (target > 1 or a > b) else " MISSED"
    print(f"| {label} | {fmt(a)} | {fmt(b)} | {ratio} | {goal}{ok} |")

# db::Worker's overhead over the bare fused loop it runs (target: <= 10%),
# by throughput and by the client's CPU per job (all threads: the Worker's
# timer and listener included).
print("\n| threads | fused loop | db::Worker | overhead | target "
      "| client CPU per job: loop / Worker |")
print("| ---: | ---: | ---: | ---: | --- | ---: |")
for w in (1, 2, 4):
    a, b = med("soundhash-db", "drain", w), med("soundhash-db", "drain-worker", w)
    if a and b:
        over = (a - b) / a * 100
        ok = "ok" if over <= 10 else "MISSED"
        ca = cpu.get(("soundhash-db", "drain", w))
        cb = cpu.get(("soundhash-db", "drain-worker", w))
        c = (f"{statistics.median(ca):.0f} / {statistics.median(cb):.0f} us"
             if ca and cb else "-")
        print(f"| {w} | {fmt(a)} | {fmt(b)} | {over:.1f}% | <= 10% {ok} | {c} |")

# Claims of a type with a concurrency limit, and of a type with per-key
# limits (64 keys), both never binding, against the same drain without one.
print("\n| threads | unlimited type | limited type | limited/unlimited "
      "| key-limited type | keyed/unlimited |")
print("| ---: | ---: | ---: | ---: | ---: | ---: |")
for w in (1, 2, 4):
    a = med("soundhash-db", "drain", w)
    b = med("soundhash-db", "drain-limited", w)
    k = med("soundhash-db", "drain-keyed", w)
    if a:
        lr = f"{b / a:.2f}x" if b else "-"
        kr = f"{k / a:.2f}x" if k else "-"
        print(f"| {w} | {fmt(a)} | {fmt(b)} | {lr} | {fmt(k)} | {kr} |")

# The drain of an unlimited type beside 2 threads working a second type,
# limited to 1 running or not: what a busy limited type costs other types.
rows = [(w, med("soundhash-db", "drain-beside-unlimited", w),
         med("soundhash-db", "drain-beside-limited", w)) for w in (1, 2, 4)]
if any(a and b for _, a, b in rows):
    print("\n| threads | beside an unlimited type | beside a limited type "
          "| ratio |")
    print("| ---: | ---: | ---: | ---: |")
    for w, a, b in rows:
        if a and b:
            print(f"| {w} | {fmt(a)} | {fmt(b)} | {b / a:.2f}x |")
