#!/usr/bin/env bash
# The queue worker end to end (DATABASE_URL from with-test-db): two worker
# processes drain 200 jobs, failing the first attempt of every 7th; an idle
# worker wakes on NOTIFY and stops promptly on SIGINT; a busy one stops on
# SIGTERM with nothing left running; the jobs of a killed worker are
# rescued by the next; a worker stopped by SIGTERM past its deadline releases
# its jobs to the next.
set -euo pipefail
bin=${1:?usage: worker_test.sh WORKER}
q() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -c "$1"; }
tmp=$(mktemp -d)
# On failure, show what the workers logged.
on_exit() {
  local rc=$?
  [ "$rc" = 0 ] || tail -n 20 "$tmp"/e* >&2 || true
  rm -rf "$tmp"
}
trap on_exit EXIT
enqueue() {  # enqueue N TARGET_PREFIX
  q "INSERT INTO processing_jobs (job_type, target_id)
     SELECT 'video_process', '$2' || g FROM generate_series(1, $1) g"
}
# until SQL VALUE: waits up to 10 s for the query to return VALUE.
until_q() {
  for _ in $(seq 100); do
    [ "$(q "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  echo "after 10 s, $1 returns $(q "$1"), not $2" >&2
  return 1
}
# stop PID SIGNAL: signal it and wait up to 5 s; fails if it does not exit 0.
stop() {
  kill "-$2" "$1"
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$1" 2>/dev/null; then
    echo "worker $1 still running 5 s after SIG$2" >&2
    kill -KILL "$1"
    exit 1
  fi
  wait "$1"  # set -e: a non-zero exit fails the test
}

# An empty queue: migrates, then exits at once.
out=$("$bin" --until-idle)
echo "$out"
grep -qx "worker: idle; completed 0 jobs, failed 0 attempts" <<<"$out"

# 200 jobs, 2 processes x 2 threads.
enqueue 200 vid
flaky=$(q "SELECT count(*) FROM processing_jobs WHERE id % 7 = 0")
"$bin" --threads 2 --until-idle --fail-every 7 >"$tmp/w1" 2>"$tmp/e1" &
w1=$!
"$bin" --threads 2 --until-idle --fail-every 7 >"$tmp/w2" 2>"$tmp/e2" &
w2=$!
wait "$w1"
wait "$w2"
cat "$tmp/w1" "$tmp/w2"
# sum N: the Nth number of both summary lines ("completed N jobs, failed M
# attempts"), added up.
sum() {
  sed -n 's/.*; completed \([0-9]*\) jobs, failed \([0-9]*\) attempts$/\1 \2/p' \
    "$tmp/w1" "$tmp/w2" | awk -v n="$1" '{ s += $n } END { print s + 0 }'
}
[ "$(sum 1)" = 200 ] || { echo "completed $(sum 1), expected 200" >&2; exit 1; }
[ "$(sum 2)" = "$flaky" ] || { echo "failed $(sum 2), expected $flaky" >&2; exit 1; }
[ "$(q "SELECT count(*) FROM processing_jobs WHERE status = 'completed'")" = 200 ]
[ "$(q "SELECT count(*) FROM processing_jobs WHERE status <> 'completed'")" = 0 ]
# Each job ran once, except the flaky ones: failed once, then completed.
[ "$(q "SELECT count(*) FROM processing_jobs WHERE id % 7 <> 0
        AND attempts = 1 AND retry_count = 0 AND progress = 100")" = $((200 - flaky)) ]
[ "$(q "SELECT count(*) FROM processing_jobs WHERE id % 7 = 0
        AND attempts = 2 AND retry_count = 1
        AND error_message = 'simulated failure'")" = "$flaky" ]

# An idle worker (30 s poll) picks new jobs up on NOTIFY, and SIGINT stops it
# at once.
"$bin" --threads 2 --poll-seconds 30 >"$tmp/w3" 2>"$tmp/e3" &
w3=$!
sleep 1
enqueue 10 late
until_q "SELECT count(*) FROM processing_jobs WHERE status = 'completed'" 210
stop "$w3" INT
cat "$tmp/w3"
grep -qx "worker: stopped by signal; completed 10 jobs, failed 0 attempts" "$tmp/w3"

# A busy worker stops on SIGTERM after finishing the jobs in hand.
enqueue 2000 busy
"$bin" --threads 2 >"$tmp/w4" 2>"$tmp/e4" &
w4=$!
until_q "SELECT count(*) >= 100 FROM processing_jobs WHERE status = 'completed'
         AND target_id LIKE 'busy%'" t
stop "$w4" TERM
cat "$tmp/w4"
grep -Eqx "worker: stopped by signal; completed [1-9][0-9]* jobs, failed 0 attempts" "$tmp/w4"
[ "$(q "SELECT count(*) FROM processing_jobs WHERE status = 'running'")" = 0 ]
done4=$(sed -n 's/.*; completed \([0-9]*\) jobs.*/\1/p' "$tmp/w4")
[ "$(q "SELECT count(*) FROM processing_jobs WHERE target_id LIKE 'busy%'
        AND status = 'completed'")" = "$done4" ]
[ "$(q "SELECT count(*) FROM processing_jobs WHERE status = 'pending'")" -gt 0 ]

# A worker killed mid-job leaves jobs running; another rescues them once
# their heartbeat is older than --stale-seconds, and the queue drains.
"$bin" --threads 2 >"$tmp/w5" 2>"$tmp/e5" &
w5=$!
until_q "SELECT count(*) > 0 FROM processing_jobs WHERE status = 'running'" t
kill -KILL "$w5"
wait "$w5" || true
sleep 0.3  # a statement it had sent completes on the server (or not) by now
stuck=$(q "SELECT count(*) FROM processing_jobs WHERE status = 'running'")
[ "$stuck" -ge 1 ]
"$bin" --threads 4 --until-idle --stale-seconds 1 >"$tmp/w6" 2>"$tmp/e6"
grep -qx "worker: rescued $stuck, released 0, lost 0 jobs" "$tmp/w6"
tail -n 1 "$tmp/w6"
[ "$(q "SELECT count(*) FROM processing_jobs WHERE status <> 'completed'")" = 0 ]
[ "$(q "SELECT count(*) FROM processing_jobs WHERE attempts = 2
        AND retry_count = 1 AND error_message LIKE 'rescued:%'")" = "$stuck" ]

# SIGTERM mid-drain with jobs that outlast the stop deadline: the jobs in hand
# are released (unstarted, attempt taken back), nothing is lost, and another
# worker claims and completes them.
enqueue 6 slow
"$bin" --threads 2 --work-ms 5000 --stop-seconds 0.3 >"$tmp/w7" 2>"$tmp/e7" &
w7=$!
until_q "SELECT count(*) FROM processing_jobs WHERE status = 'running'" 2
stop "$w7" TERM
cat "$tmp/w7"
grep -qx "worker: rescued 0, released 2, lost 0 jobs" "$tmp/w7"
grep -qx "worker: stopped by signal; completed 0 jobs, failed 0 attempts" "$tmp/w7"
[ "$(q "SELECT count(*) FROM processing_jobs WHERE target_id LIKE 'slow%'
        AND status = 'pending' AND attempts = 0 AND locked_by IS NULL")" = 6 ]
"$bin" --threads 3 --until-idle --work-ms 30 >"$tmp/w8" 2>"$tmp/e8"
tail -n 1 "$tmp/w8"
grep -qx "worker: idle; completed 6 jobs, failed 0 attempts" "$tmp/w8"
[ "$(q "SELECT count(*) FROM processing_jobs WHERE target_id LIKE 'slow%'
        AND status = 'completed' AND attempts = 1 AND retry_count = 0
        AND locked_by LIKE '%:%'")" = 6 ]

# With the Prometheus exporter built, --metrics-port serves /metrics: the
# jobs this worker completed are counted there.
if "$bin" --bogus 2>&1 | grep -q -- --metrics-port; then
  "$bin" --threads 1 --poll-seconds 30 --metrics-port 0 >"$tmp/w9" 2>"$tmp/e9" &
  w9=$!
  for _ in $(seq 100); do grep -q "metrics on" "$tmp/w9" && break; sleep 0.1; done
  url=$(sed -n 's/^worker: metrics on \(http[^ ]*\)$/\1/p' "$tmp/w9")
  enqueue 5 metered
  until_q "SELECT count(*) FROM processing_jobs WHERE target_id LIKE 'metered%'
           AND status = 'completed'" 5
  curl -sf "$url" >"$tmp/m9"
  stop "$w9" INT
  grep -qx 'soundhash_db_jobs_total{event="completed",job_type="video_process"} 5' "$tmp/m9"
fi
echo "worker_test: ok"
