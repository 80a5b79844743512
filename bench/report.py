#!/usr/bin/python3
"""Turns the benchmark outputs into the table of docs/performance.md."""
import json
import platform
import sys

# Medians of the interleaved repetitions (bench/run), keyed by run name.
bench = {b["run_name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]
         if b.get("run_type") == "aggregate" and b.get("aggregate_name") == "median"}
python = json.load(open(sys.argv[2]))
rss = json.load(open(sys.argv[3]))
ctx = json.load(open(sys.argv[1]))["context"]


def key(name):
    return next(k for k in bench if k == name + "/real_time" or
                (k.startswith(name + "/") and k.endswith("/real_time")))


def ns(name):
    b = bench[key(name)]
    scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
    return b["real_time"] * scale


def per_s(name):
    return bench[key(name)]["items_per_second"]


rows = []


def row(what, ours, peer, ratio, goal, ok):
    rows.append((what, ours, peer, ratio, goal,
                 "-" if ok is None else ("yes" if ok else "NO")))


lib_read = ns("BM_ScopedRead_Library")
seq = ns("BM_ScopedRead_LibpqSequential")
pipe = ns("BM_ScopedRead_LibpqPipelined")
pqxx = ns("BM_ScopedRead_Libpqxx")
row("scoped read vs hand-written libpq (3 round trips)", f"{lib_read/1e3:.1f} us",
    f"{seq/1e3:.1f} us", f"{lib_read/seq:.2f}x", "<= 0.50x", lib_read / seq <= 0.50)
row("scoped read vs pipelined libpq (1 round trip)", f"{lib_read/1e3:.1f} us",
    f"{pipe/1e3:.1f} us", f"{lib_read/pipe:.2f}x", "<= 1.15x", lib_read / pipe <= 1.15)
row("scoped read vs libpqxx", f"{lib_read/1e3:.1f} us", f"{pqxx/1e3:.1f} us",
    f"{lib_read/pqxx:.2f}x", "< 1x", lib_read < pqxx)
lib_ops = 1e9 / lib_read
row("scoped read vs SQLAlchemy+psycopg2", f"{lib_ops:,.0f} ops/s",
    f"{python['scoped_read']:,.0f} ops/s", f"{lib_ops/python['scoped_read']:.1f}x",
    ">= 8x", lib_ops / python["scoped_read"] >= 8)

# Context for the 8x: the most any client could reach here, sending the
# fewest messages a read can be (pipelined BEGIN/SELECT/COMMIT, or the
# SELECT alone in an implicit transaction, which drops the unit's isolation
# level and READ ONLY and so is not what a scope may send).
for name, what in (("BM_ScopedRead_LibpqPipelined", "pipelined libpq (1 round trip)"),
                   ("BM_Read_LibpqBare", "a bare SELECT, no BEGIN/COMMIT")):
    peer_ops = 1e9 / ns(name)
    row(f"{what} vs SQLAlchemy+psycopg2 (ceiling)", f"{peer_ops:,.0f} ops/s",
        f"{python['scoped_read']:,.0f} ops/s",
        f"{peer_ops/python['scoped_read']:.1f}x", "(context)", None)

lib_job = ns("BM_CreateJob_Library")
seq_job = ns("BM_CreateJob_LibpqSequential")
pqxx_job = ns("BM_CreateJob_Libpqxx")
row("create_job_if_not_exists vs hand-written libpq", f"{lib_job/1e3:.1f} us",
    f"{seq_job/1e3:.1f} us", f"{lib_job/seq_job:.2f}x", "<= 0.65x", lib_job / seq_job <= 0.65)
row("create_job_if_not_exists vs libpqxx", f"{lib_job/1e3:.1f} us",
    f"{pqxx_job/1e3:.1f} us", f"{lib_job/pqxx_job:.2f}x", "< 1x", lib_job < pqxx_job)
job_ops = 1e9 / lib_job
row("create_job_if_not_exists vs SQLAlchemy+psycopg2", f"{job_ops:,.0f} ops/s",
    f"{python['create_job']:,.0f} ops/s", f"{job_ops/python['create_job']:.1f}x",
    ">= 3x", job_ops / python["create_job"] >= 3)

batch = per_s("BM_Fingerprints_LibraryBatch")
per_row = per_s("BM_Fingerprints_LibraryPerRow")
copy = per_s("BM_Fingerprints_LibpqTextCopy")
row("create_fingerprints_batch (100k) vs per-row create_fingerprint",
    f"{batch:,.0f} rows/s", f"{per_row:,.0f} rows/s", f"{batch/per_row:.0f}x",
    ">= 30x", batch / per_row >= 30)
ceiling = per_s("BM_Fingerprints_ServerSideCeiling")
row("create_fingerprints_batch vs the server generating the rows itself (INSERT ... SELECT)",
    f"{batch:,.0f} rows/s", f"{ceiling:,.0f} rows/s", f"{batch/ceiling:.2f}x",
    "(context)", None)
row("create_fingerprints_batch vs hand-written libpq COPY", f"{batch:,.0f} rows/s",
    f"{copy:,.0f} rows/s", f"{batch/copy:.2f}x", ">= 0.5x", batch / copy >= 0.5)

growth = rss["rss_kb_at_end"] / rss["rss_kb_at_10k"]
row(f"RSS after {rss['reads']:,} scoped reads vs after 10,000",
    f"{rss['rss_kb_at_end']:,} kB", f"{rss['rss_kb_at_10k']:,} kB",
    f"{growth:.3f}x", "<= 1.10x", growth <= 1.10)

print(f"Machine: {platform.node()}, {ctx.get('num_cpus')} CPUs at "
      f"{ctx.get('mhz_per_cpu')} MHz, {platform.platform()}; server and "
      f"client on the same machine over a unix socket.\n")
print("| measure | soundhash-db | peer | ratio | goal | met |")
print("| --- | --- | --- | --- | --- | --- |")
for r in rows:
    print("| " + " | ".join(r) + " |")

print("\nThreads over a pool of 8 (scoped reads, all threads together):\n")
print("| threads | reads/s |")
print("| --- | --- |")
for t in (1, 2, 4, 8):
    b = bench.get(f"BM_ScopedRead_Library_Threads/real_time/threads:{t}")
    if b:
        print(f"| {t} | {b['items_per_second']:,.0f} |")

# The pipeline API (bench/pipeline_bench.cpp): N statements in one scoped
# unit, as N calls or as one Pipeline; the floor is libpq pipelined by hand.
if any(k.startswith("BM_PipelineReads_Pipeline/") for k in bench):
    print("\nThe pipeline API against the sequential calls it replaces "
          "(one scoped unit):\n")
    print("| statements | kind | sequential calls | one Pipeline | speed-up "
          "| hand-written libpq pipeline | Pipeline vs libpq |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n in (10, 100):
        for kind in ("Reads", "Writes"):
            s = ns(f"BM_Pipeline{kind}_Sequential/{n}")
            p = ns(f"BM_Pipeline{kind}_Pipeline/{n}")
            floor = (ns(f"BM_PipelineReads_LibpqPipelined/{n}")
                     if kind == "Reads" else None)
            print(f"| {n} | {kind.lower()} | {s/1e3:.0f} us | {p/1e3:.0f} us | "
                  f"{s/p:.1f}x | "
                  + (f"{floor/1e3:.0f} us | {p/floor:.2f}x |" if floor
                     else "- | - |"))
