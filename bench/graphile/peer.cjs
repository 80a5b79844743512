#!/usr/bin/env node
// graphile-worker benchmark peer: runs one mode against PostgreSQL and prints
// one JSON line on stdout; all logs go to stderr. See README.md here.
//
//   node bench/graphile/peer.cjs --modules DEST/node_modules \
//     --conninfo "host=/tmp/x port=5433 user=postgres dbname=bench" \
//     --mode insert-one|insert-batch|drain|drain-batched --jobs N [--workers W]
"use strict";

const { createRequire } = require("module");
const { EventEmitter } = require("events");
const path = require("path");

// graphile-worker reads NO_LOG_SUCCESS when it is loaded. Its per-job "Completed
// task" line is info level, which this peer drops anyway (stderr gets warnings
// and errors only); with this set it is not even formatted. A documented
// graphile-worker switch; it changes nothing about how jobs are processed.
process.env.NO_LOG_SUCCESS = "1";

const MODES = ["insert-one", "insert-batch", "drain", "drain-batched"];
const SCHEMA = "graphile_worker"; // graphile-worker's default schema
const TASK = "bench";
// graphile-worker's documented default poll interval (preset.worker.pollInterval),
// set explicitly so that no cosmiconfig file in the cwd can change it.
const DEFAULT_POLL_INTERVAL_MS = 2000;

function usage(msg) {
  if (msg) process.stderr.write(`peer.cjs: ${msg}\n`);
  process.stderr.write(
    "usage: node peer.cjs --modules DIR/node_modules --conninfo CONNINFO " +
      `--mode ${MODES.join("|")} --jobs N [--workers W]\n`,
  );
  process.exit(2);
}

function parseArgs(argv) {
  const out = { workers: null };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    const val = argv[i + 1];
    if (!key.startsWith("--") || val === undefined) usage(`bad argument ${key}`);
    i++;
    switch (key) {
      case "--modules": out.modules = val; break;
      case "--conninfo": out.conninfo = val; break;
      case "--mode": out.mode = val; break;
      case "--jobs": out.jobs = positiveInt(key, val); break;
      case "--workers": out.workers = positiveInt(key, val); break;
      default: usage(`unknown option ${key}`);
    }
  }
  if (!out.modules || !out.conninfo || !out.mode || !out.jobs) usage("missing option");
  if (!MODES.includes(out.mode)) usage(`unknown mode ${out.mode}`);
  if (out.mode.startsWith("insert")) {
    // The insert modes use one client, sequentially.
    if (out.workers !== null && out.workers !== 1) usage(`--workers does not apply to ${out.mode}`);
    out.workers = 1;
  } else if (out.workers === null) {
    out.workers = 1;
  }
  return out;
}

function positiveInt(key, val) {
  if (!/^[1-9][0-9]*$/.test(val)) usage(`${key} wants a positive integer, got ${val}`);
  return Number(val);
}

// libpq keyword/value conninfo ("host=/tmp/dir port=5433 dbname='my db'") to a
// node-postgres client config. A postgres:// URI is passed on as is.
function conninfoToPgConfig(conninfo) {
  const s = conninfo.trim();
  if (/^postgres(ql)?:\/\//.test(s)) return { connectionString: s };
  const kv = {};
  let i = 0;
  const n = s.length;
  const ws = (c) => c === " " || c === "\t" || c === "\n" || c === "\r";
  while (i < n) {
    while (i < n && ws(s[i])) i++;
    if (i >= n) break;
    let key = "";
    while (i < n && s[i] !== "=" && !ws(s[i])) key += s[i++];
    while (i < n && ws(s[i])) i++;
    if (s[i] !== "=") throw new Error(`conninfo: missing "=" after ${key}`);
    i++;
    while (i < n && ws(s[i])) i++;
    let val = "";
    if (s[i] === "'") {
      i++;
      while (i < n && s[i] !== "'") {
        if (s[i] === "\\" && i + 1 < n) i++;
        val += s[i++];
      }
      if (s[i] !== "'") throw new Error("conninfo: unterminated quoted value");
      i++;
    } else {
      while (i < n && !ws(s[i])) {
        if (s[i] === "\\" && i + 1 < n) i++;
        val += s[i++];
      }
    }
    kv[key] = val;
  }
  const cfg = {};
  for (const [key, val] of Object.entries(kv)) {
    switch (key) {
      case "host": cfg.host = val; break; // a path is a unix socket directory
      case "hostaddr": if (!kv.host) cfg.host = val; break;
      case "port": cfg.port = Number(val); break;
      case "user": cfg.user = val; break;
      case "dbname": cfg.database = val; break;
      case "password": cfg.password = val; break;
      case "application_name": cfg.application_name = val; break;
      case "connect_timeout": cfg.connectionTimeoutMillis = Number(val) * 1000; break;
      case "sslmode":
        if (val === "disable" || val === "allow" || val === "prefer") break; // no TLS
        if (val === "require") { cfg.ssl = { rejectUnauthorized: false }; break; }
        throw new Error(`conninfo: sslmode=${val} is not supported by this peer`);
      default:
        throw new Error(`conninfo: keyword ${key} is not supported by this peer`);
    }
  }
  return cfg;
}

const log = (msg) => process.stderr.write(`graphile peer: ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ms = (s) => `${(s * 1000).toFixed(1)} ms`;
const now = () => Number(process.hrtime.bigint()) / 1e9;

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const modules = path.resolve(args.modules);
  // Resolve everything from the install directory, not from this source tree.
  const req = createRequire(path.join(modules, "noop.js"));
  const gw = req("graphile-worker");
  const { Pool, Client } = req("pg");
  const version = req("graphile-worker/package.json").version;
  const pgConfig = conninfoToPgConfig(args.conninfo);

  // graphile-worker's logger, reduced to warnings and errors on stderr.
  const logger = new gw.Logger((scope) => (level, message) => {
    if (level === "error" || level === "warning") {
      const where = scope && scope.label ? `${scope.label}: ` : "";
      process.stderr.write(`graphile-worker ${level}: ${where}${message}\n`);
    }
  });

  // graphile-worker's pool advice: maxPoolSize 10 (its default) or
  // concurrentJobs + 2, whichever is larger.
  const pgPool = new Pool({ ...pgConfig, max: Math.max(10, args.workers + 2) });
  // The error handlers graphile-worker asks a user-supplied pool to have.
  pgPool.on("error", (e) => log(`idle client error: ${e.message}`));
  pgPool.on("connect", (client) => client.on("error", (e) => log(`client error: ${e.message}`)));
  // A connection of our own, outside graphile's pool, for setup and checks.
  const admin = new Client(pgConfig);
  await admin.connect();
  const jobsTable = `"${SCHEMA}"._private_jobs`;
  const countJobs = async () =>
    Number((await admin.query(`select count(*)::int as n from ${jobsTable}`)).rows[0].n);
  const clearJobs = () =>
    admin.query(`truncate "${SCHEMA}"._private_jobs, "${SCHEMA}"._private_job_queues`);
  const specs = () => {
    const out = new Array(args.jobs);
    for (let i = 0; i < args.jobs; i++) out[i] = { identifier: TASK, payload: { target: `t${i}` } };
    return out;
  };

  let seconds;
  try {
    // Runs graphile-worker's own schema migration when needed (not timed).
    const utils = await gw.makeWorkerUtils({ pgPool, logger, schema: SCHEMA });
    try {
      await clearJobs();
      if (args.mode === "insert-one") {
        const t0 = now();
        for (let i = 0; i < args.jobs; i++) {
          await utils.addJob(TASK, { target: `t${i}` });
        }
        seconds = now() - t0;
      } else if (args.mode === "insert-batch") {
        const all = specs();
        // addJobs sends every spec as one JSON parameter to add_jobs(); it
        // has no batch size limit of its own.
        const t0 = now();
        await utils.addJobs(all);
        seconds = now() - t0;
      } else {
        await utils.addJobs(specs()); // pre-insert, not timed
      }
      const queued = await countJobs();
      if (queued !== args.jobs) throw new Error(`expected ${args.jobs} queued jobs, found ${queued}`);
    } finally {
      await utils.release();
    }

    if (args.mode === "drain" || args.mode === "drain-batched") {
      seconds = await drain(gw, args, { pgPool, logger, countJobs });
      const left = await countJobs();
      if (left !== 0) throw new Error(`${left} jobs left in ${jobsTable}`);
    }
  } finally {
    await admin.end();
    await pgPool.end();
  }

  process.stdout.write(
    JSON.stringify({
      peer: "graphile-worker",
      version,
      mode: args.mode,
      workers: args.workers,
      jobs: args.jobs,
      seconds: Number(seconds.toFixed(4)),
      jobs_per_second: Number((args.jobs / seconds).toFixed(1)),
    }) + "\n",
  );
}

// Runs a graphile-worker runner over the N queued jobs; returns the seconds from
// the run() call until the jobs table is empty.
async function drain(gw, args, { pgPool, logger, countJobs }) {
  const worker = { pollInterval: DEFAULT_POLL_INTERVAL_MS };
  if (args.mode === "drain-batched") {
    // graphile-worker's batching, as in its own performance setup
    // (worker.graphile.org/docs/performance): the pool fetches and locks up to
    // 500 jobs at a time into a local queue and hands them to the workers, and
    // the completions of one event-loop turn are written in one statement.
    worker.localQueue = { size: 500 };
    worker.completeJobBatchDelay = 0;
    worker.failJobBatchDelay = 0;
    // Poll interval: the local queue refetches at once whenever it runs dry or a
    // fetch came back full (500 jobs), so on a pre-filled table the poll
    // interval is never waited on while jobs remain; it only spaces out the
    // polls of an empty table. The default 2000 ms is therefore kept, and no
    // localQueue.refetchDelay is set (that would delay refetches after a short
    // fetch and could starve the workers).
  }

  let invoked = 0;
  let failed = null;
  let reachedN;
  const allInvoked = new Promise((resolve) => (reachedN = resolve));
  const taskList = {
    [TASK]: async () => {
      if (++invoked === args.jobs) reachedN();
    },
  };
  const events = new EventEmitter();
  // A failed job would be retried only after a backoff: stop at once instead.
  events.on("job:error", ({ job, error }) => {
    failed = failed || new Error(`job ${job.id} failed: ${error && error.message}`);
    reachedN();
  });

  const t0 = now();
  const runner = await gw.run({
    pgPool,
    logger,
    events,
    schema: SCHEMA,
    concurrency: args.workers,
    noHandleSignals: true,
    taskList,
    parsedCronItems: [], // no crontab
    preset: { worker },
  });
  const tStarted = now();
  let seconds;
  // Should the runner stop on its own (a fatal error), stop waiting.
  runner.promise.then(
    () => { failed = failed || new Error("runner stopped early"); reachedN(); },
    (e) => { failed = failed || e; reachedN(); },
  );
  try {
    await allInvoked;
    if (failed) throw failed;
    // The task has run N times; graphile deletes a job when its completion is
    // written, which workers do not wait for (and batch mode delays), so the
    // clock stops only when the jobs table is empty.
    const deadline = now() + 60;
    while ((await countJobs()) !== 0) {
      if (now() > deadline) throw new Error("jobs still in the table 60 s after the last task ran");
      await sleep(1);
    }
    seconds = now() - t0;
  } finally {
    const tStop = now();
    await runner.stop();
    await runner.promise.catch((e) => log(`runner: ${e.message}`));
    log(
      `${args.mode} workers=${args.workers}: run() ${ms(tStarted - t0)} (timed), ` +
        `stop() ${ms(now() - tStop)} (not timed), ${invoked} task invocations`,
    );
  }
  if (invoked !== args.jobs) throw new Error(`task ran ${invoked} times for ${args.jobs} jobs`);
  return seconds;
}

main().catch((e) => {
  process.stderr.write(`graphile peer: ${e && e.stack ? e.stack : e}\n`);
  process.exitCode = 1;
});
