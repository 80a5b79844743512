#!/usr/bin/env bash
# Exercises every soundhash-db command against a real server: output, exit
# codes, password redaction, and the cannot-connect path.
#
#   cli_test.sh PATH/TO/soundhash-db
#
# DATABASE_URL must name a fresh, empty database (tests/support/with-test-db
# provides one); this script migrates it and writes jobs into it.
set -euo pipefail

cli=${1:?usage: cli_test.sh PATH/TO/soundhash-db}
: "${DATABASE_URL:?DATABASE_URL must name a fresh database}"
good_url=$DATABASE_URL
# Nothing listens on port 1: connection refused at once.
down_url="host=127.0.0.1 port=1"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$work/stdout
err=$work/stderr
rc=0
failures=0
checks=0

# --- helpers ----------------------------------------------------------------

# run ARGS...: runs the tool; its output lands in $out/$err, its status in
# $rc. Prefix with VAR=value to change its environment.
run() {
  last_cmd="soundhash-db $*"
  "$cli" "$@" >"$out" 2>"$err" && rc=0 || rc=$?
}

fail() {
  failures=$((failures + 1))
  {
    echo "FAIL: $last_cmd: $*"
    echo "  exit code: $rc"
    sed 's/^/  stdout| /' "$out"
    sed 's/^/  stderr| /' "$err"
  } >&2
}

expect_rc() {
  checks=$((checks + 1))
  [ "$rc" -eq "$1" ] || fail "expected exit code $1"
}

# expect_out REGEX / expect_err REGEX: extended regex somewhere in the stream.
expect_out() {
  checks=$((checks + 1))
  grep -Eq -- "$1" "$out" || fail "stdout lacks /$1/"
}
expect_err() {
  checks=$((checks + 1))
  grep -Eq -- "$1" "$err" || fail "stderr lacks /$1/"
}
# expect_absent TEXT: fixed text in neither stream.
expect_absent() {
  checks=$((checks + 1))
  ! grep -Fq -- "$1" "$out" "$err" || fail "output contains '$1'"
}
expect_quiet_stderr() {
  checks=$((checks + 1))
  [ ! -s "$err" ] || fail "stderr is not empty"
}
# A failure is reported as exactly one line, prefixed with the tool's name.
expect_one_error_line() {
  checks=$((checks + 1))
  if [ "$(wc -l <"$err")" -ne 1 ] || ! grep -q '^soundhash-db: ' "$err"; then
    fail "stderr is not one 'soundhash-db: ...' line"
  fi
}

# expect_usage_error ARGS...: exit 2 with one error line, nothing on stdout.
expect_usage_error() {
  run "$@"
  expect_rc 2
  expect_one_error_line
  checks=$((checks + 1))
  [ ! -s "$out" ] || fail "stdout is not empty"
}

sql() {
  psql -X -q -At -v ON_ERROR_STOP=1 -d "$good_url" -c "$1"
}

# The number of table rows in $out (header excluded).
data_rows() {
  tail -n +2 "$out" | grep -c . || true
}

# --- help --------------------------------------------------------------------

run --help
expect_rc 0
for c in migrate status "jobs list" "jobs enqueue" "jobs retry" "jobs rescue" "jobs purge" doctor match; do
  expect_out "^  $c "
done
expect_out "exit codes"
expect_out "--database URL"

for c in migrate status "jobs list" "jobs enqueue" "jobs retry" "jobs rescue" "jobs purge" doctor match; do
  # shellcheck disable=SC2086 # "jobs list" is two words on purpose
  run $c --help
  expect_rc 0
  expect_out "^usage: soundhash-db $c"
  expect_out "--connect-timeout"
done
run jobs --help
expect_rc 0
expect_out "jobs retry"
run --version
expect_rc 0
expect_out '^soundhash-db [0-9]+\.[0-9]+\.[0-9]+$'

# --- usage errors: exit 2 ----------------------------------------------------

expect_usage_error
expect_err "missing command"
expect_usage_error frob
expect_err "unknown command 'frob'"
expect_usage_error jobs
expect_err "missing subcommand"
expect_usage_error jobs frob
expect_usage_error status --bogus
expect_err "unknown option '--bogus'"
expect_usage_error status extra
expect_usage_error --bogus status
expect_usage_error --database
expect_err "needs a value"
expect_usage_error --connect-timeout soon status
expect_err "--connect-timeout"
expect_usage_error jobs list --limit abc
expect_err "--limit: expected a whole number"
expect_usage_error jobs list --limit 0
expect_usage_error jobs list --limit 5x
expect_usage_error jobs list --status bogus
expect_err "not a job status"
expect_usage_error jobs list --status
expect_usage_error jobs enqueue video_process
expect_err "missing TARGET"
expect_usage_error jobs enqueue a b c
expect_usage_error jobs retry
expect_err "missing ID"
expect_usage_error jobs retry abc
expect_usage_error jobs retry 0
expect_usage_error jobs retry -5
expect_usage_error jobs retry 1 --force=yes
expect_usage_error jobs enqueue video_process vid9 --priority high
expect_err "--priority: expected a whole number"
expect_usage_error jobs enqueue video_process vid9 --priority 2147483648
expect_usage_error jobs enqueue video_process vid9 --max-retries -1
expect_err "--max-retries: expected a whole number"
expect_usage_error jobs enqueue video_process vid9 --delay 1.5
expect_err "--delay: expected a whole number"
expect_usage_error jobs enqueue video_process vid9 --delay -5
expect_usage_error jobs enqueue video_process vid9 --delay
expect_usage_error jobs rescue
expect_err "missing --older-than"
expect_usage_error jobs rescue --older-than 0
expect_err "--older-than: expected a whole number"
expect_usage_error jobs rescue --older-than soon
expect_usage_error jobs rescue --older-than 60 extra
expect_err "unexpected argument 'extra'"
expect_usage_error jobs purge
expect_err "missing --older-than"
expect_usage_error jobs purge --older-than 0
expect_usage_error jobs purge --older-than 60 --batch 0
expect_err "--batch: expected a whole number"
SOUNDHASH_DB_POOL_SIZE=lots expect_usage_error status
expect_err "SOUNDHASH_DB_POOL_SIZE"
# The parser (CLI11) keeps the tool's rules: a flag takes no value, a
# missing value is named, "--" ends the options, the last repeat wins.
expect_usage_error jobs retry 1 --force=yes
expect_err "option '--force' takes no value"
expect_usage_error status --json --watch
expect_err "option '--watch' needs a value"
expect_usage_error jobs enqueue -- video_process
expect_err "missing TARGET"
expect_usage_error jobs enqueue video_process -- -dash- extra
expect_err "unexpected argument 'extra'"
expect_usage_error jobs list --limit 1 --limit abc
expect_err "--limit: expected a whole number"
run jobs list --limit abc --limit 1
expect_rc 1  # parsed; the schema is not there yet
expect_err "not migrated"
run status --version
expect_rc 0
expect_out '^soundhash-db [0-9]+\.[0-9]+\.[0-9]+$'

# --- before migrate ----------------------------------------------------------

run status
expect_rc 0
expect_out "^  version +0 \(not migrated"
expect_out "schema not migrated"
expect_quiet_stderr
run jobs list
expect_rc 1
expect_one_error_line
expect_err "not migrated.*soundhash-db migrate"
run jobs enqueue video_process vid1
expect_rc 1
expect_err "not migrated"
run jobs retry 1
expect_rc 1
expect_err "not migrated"
run jobs rescue --older-than 60
expect_rc 1
expect_one_error_line
expect_err "not migrated"
run jobs purge --older-than 60
expect_rc 1
expect_one_error_line
expect_err "not migrated"
printf 'h1 0\n' >"$work/early.txt"
run match "$work/early.txt"
expect_rc 1
expect_one_error_line
expect_err "not migrated"

# --- migrate -------------------------------------------------------------------

run migrate
expect_rc 0
expect_out '^applied [1-9][0-9]* migrations?; schema version [1-9][0-9]*$'
expect_quiet_stderr
version=$(sql "SELECT max(version) FROM soundhash_schema_migrations")
run migrate
expect_rc 0
expect_out "^applied 0 migrations; schema version $version \(already up to date\)$"
expect_quiet_stderr  # no server NOTICE ("... already exists, skipping")

# --- enqueue -----------------------------------------------------------------

run jobs enqueue video_process vid1
expect_rc 0
expect_out '^created job [0-9]+$'
id1=$(sed -n 's/^created job \([0-9]*\)$/\1/p' "$out")
run jobs enqueue video_process vid1
expect_rc 0
expect_out "^job $id1 already pending$"
sql "UPDATE processing_jobs SET status = 'running' WHERE id = $id1"
run jobs enqueue video_process vid1
expect_rc 0
expect_out "^job $id1 already running$"

run jobs enqueue video_process vid2 --params '{"priority": 1}'
expect_rc 0
id2=$(sed -n 's/^created job \([0-9]*\)$/\1/p' "$out")
checks=$((checks + 1))
[ "$(sql "SELECT parameters FROM processing_jobs WHERE id = $id2")" = '{"priority": 1}' ] ||
  fail "job $id2 lacks its parameters"
run jobs enqueue channel_ingest UC1
expect_rc 0
id3=$(sed -n 's/^created job \([0-9]*\)$/\1/p' "$out")

expect_usage_error jobs enqueue video_process vid9 --params '{not json'
expect_err "not valid JSON"
checks=$((checks + 1))
[ "$(sql "SELECT count(*) FROM processing_jobs WHERE target_id = 'vid9'")" = 0 ] ||
  fail "a job with invalid --params was created"
# Too long for job_type varchar(50): the server refuses, exit 1.
run jobs enqueue "$(printf 'x%.0s' {1..60})" vid1
expect_rc 1
expect_one_error_line
expect_err "value too long"

# --- list --------------------------------------------------------------------

run jobs list
expect_rc 0
expect_out '^id +type +target +status +progress +created_at +attempts +locked_by +run_at +heartbeat_age$'
checks=$((checks + 1))
[ "$(data_rows)" -eq 3 ] || fail "expected 3 jobs"
# Newest first. A pending job shows when it may run; a running one how old
# its heartbeat is ("-": does not apply).
iso='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
expect_out "^ *$id3 +channel_ingest +UC1 +pending +0\.0% +$iso +0 +- +$iso +-$"
expect_out "^ *$id1 +video_process +vid1 +running +0\.0% +$iso +0 +- +- +[0-9]+s$"
checks=$((checks + 1))
[ "$(sed -n 2p "$out" | awk '{print $1}')" = "$id3" ] || fail "not newest first"
expect_quiet_stderr

run jobs list --status running
expect_rc 0
expect_out "^ *$id1 +video_process +vid1 +running "
checks=$((checks + 1))
[ "$(data_rows)" -eq 1 ] || fail "--status running: expected 1 job"
run jobs list --type channel_ingest
checks=$((checks + 1))
[ "$(data_rows)" -eq 1 ] || fail "--type: expected 1 job"
expect_out " UC1 "
run jobs list --type video_process --status pending --limit=5
checks=$((checks + 1))
[ "$(data_rows)" -eq 1 ] || fail "--type --status: expected 1 job"
expect_out " vid2 "
run jobs list --limit 1
checks=$((checks + 1))
[ "$(data_rows)" -eq 1 ] || fail "--limit 1: expected 1 job"
run jobs list --status completed
expect_rc 0
expect_out '^no jobs$'
# --owner: what one worker holds.
sql "UPDATE processing_jobs SET locked_by = 'web3:4711:0' WHERE id = $id1"
run jobs list --owner web3:4711:0 --status running
expect_rc 0
expect_out "^ *$id1 +video_process +vid1 +running +0\.0% +$iso +0 +web3:4711:0 +- +[0-9]+s$"
checks=$((checks + 1))
[ "$(data_rows)" -eq 1 ] || fail "--owner: expected 1 job"
run jobs list --owner web3:4711:1
expect_rc 0
expect_out '^no jobs$'
sql "UPDATE processing_jobs SET locked_by = NULL WHERE id = $id1"
# Values are bound, never spliced into the SQL.
run jobs list --type "x' OR '1'='1"
expect_rc 0
expect_out '^no jobs$'
# Control characters in stored values cannot reach the terminal raw.
run jobs enqueue weird $'bad\x1b[2Jtarget'
expect_rc 0
run jobs list --type weird
expect_rc 0
checks=$((checks + 1))
grep -Fq 'bad\x1b[2Jtarget' "$out" || fail "control character not escaped"
checks=$((checks + 1))
! grep -q $'\x1b' "$out" || fail "raw escape character in output"

# --- retry -------------------------------------------------------------------

sql "UPDATE processing_jobs SET status = 'failed', error_message = 'boom',
       started_at = now(), completed_at = now(), progress = 40,
       current_step = 'fingerprint', retry_count = 0, max_retries = 3,
       locked_by = 'host:1:0', heartbeat_at = now(), attempts = 1,
       run_at = now() + interval '1 hour'
     WHERE id = $id1"
run jobs retry "$id1"
expect_rc 0
expect_out "^job $id1 is pending again \(retry 1 of 3\)$"
checks=$((checks + 1))
[ "$(sql "SELECT status, retry_count, progress, error_message IS NULL,
                 started_at IS NULL, completed_at IS NULL, current_step IS NULL
          FROM processing_jobs WHERE id = $id1")" = "pending|1|0|t|t|t|t" ] ||
  fail "job $id1 not reset to pending"
checks=$((checks + 1))
[ "$(sql "SELECT locked_by IS NULL, heartbeat_at IS NULL, run_at <= now(),
                 attempts FROM processing_jobs WHERE id = $id1")" = "t|t|t|1" ] ||
  fail "job $id1: locked_by, heartbeat_at or run_at not reset (or attempts changed)"

run jobs retry "$id1"
expect_rc 1
expect_one_error_line
expect_err "^soundhash-db: jobs retry: job $id1 is pending, not failed"
run jobs retry 999999
expect_rc 1
expect_one_error_line
expect_err "^soundhash-db: jobs retry: job 999999 does not exist$"

sql "UPDATE processing_jobs SET status = 'running' WHERE id = $id3"
run jobs retry "$id3"
expect_rc 1
expect_err "job $id3 is running, not failed"

sql "UPDATE processing_jobs SET status = 'cancelled', retry_count = 3,
       max_retries = 3 WHERE id = $id2"
run jobs retry "$id2"
expect_rc 1
expect_err "job $id2 has used 3 of 3 retries.*--force"
checks=$((checks + 1))
[ "$(sql "SELECT status, retry_count FROM processing_jobs WHERE id = $id2")" = "cancelled|3" ] ||
  fail "a refused retry changed job $id2"
run jobs retry "$id2" --force
expect_rc 0
expect_out "^job $id2 is pending again \(retry 4 of 3, forced\)$"
checks=$((checks + 1))
[ "$(sql "SELECT status, retry_count FROM processing_jobs WHERE id = $id2")" = "pending|4" ] ||
  fail "--force did not retry job $id2"

# --- the work queue: enqueue options, list columns, rescue ------------------
# Jobs of type q_* only; they are deleted at the end of this section.

run jobs enqueue q_opts t1 --priority -5 --max-retries 1 --delay 3600
expect_rc 0
expect_out '^created job [0-9]+$'
expect_quiet_stderr
q1=$(sed -n 's/^created job \([0-9]*\)$/\1/p' "$out")
checks=$((checks + 1))
[ "$(sql "SELECT priority, max_retries, status,
                 run_at - created_at BETWEEN interval '3599 s' AND interval '3601 s'
          FROM processing_jobs WHERE id = $q1")" = "-5|1|pending|t" ] ||
  fail "job $q1 lacks its --priority, --max-retries or --delay"
# Still idempotent: the options do not create a second job or change the first.
run jobs enqueue q_opts t1 --priority 7 --delay=0
expect_rc 0
expect_out "^job $q1 already pending$"
checks=$((checks + 1))
[ "$(sql "SELECT count(*), min(priority) FROM processing_jobs
          WHERE job_type = 'q_opts'")" = "1|-5" ] ||
  fail "enqueue with options changed or duplicated job $q1"
# Defaults without options: NewJob's.
run jobs enqueue q_opts t2 --params '{"a": 1}'
expect_rc 0
q2=$(sed -n 's/^created job \([0-9]*\)$/\1/p' "$out")
checks=$((checks + 1))
[ "$(sql "SELECT priority, max_retries, run_at = created_at, parameters
          FROM processing_jobs WHERE id = $q2")" = '0|3|t|{"a": 1}' ] ||
  fail "job $q2 does not have the default options"
run jobs list --type q_opts
expect_rc 0
expect_out "^ *$q1 +q_opts +t1 +pending +0\.0% +$iso +0 +- +$iso +-$"
# The delayed job's run_at (column 9) is an hour after created_at (6).
checks=$((checks + 1))
[ "$(awk -v id="$q1" '$1 == id { print ($9 > $6) }' "$out")" = 1 ] ||
  fail "job $q1: run_at not after created_at"

# Three running jobs: two whose worker went quiet 90 s ago (one with retries
# left, one without), one that heartbeats.
for t in stale spent alive; do
  run jobs enqueue q_run "$t" --max-retries 2
  expect_rc 0
done
sql "UPDATE processing_jobs SET status = 'running', locked_by = 'host:42:' || target_id,
       attempts = 1, started_at = now() - interval '5 min',
       heartbeat_at = now() - interval '90 s' WHERE job_type = 'q_run'"
sql "UPDATE processing_jobs SET retry_count = 2 WHERE target_id = 'spent'"
sql "UPDATE processing_jobs SET heartbeat_at = now() WHERE target_id = 'alive'"
stale_id=$(sql "SELECT id FROM processing_jobs WHERE target_id = 'stale'")
spent_id=$(sql "SELECT id FROM processing_jobs WHERE target_id = 'spent'")
alive_id=$(sql "SELECT id FROM processing_jobs WHERE target_id = 'alive'")
run jobs list --type q_run --status running
expect_rc 0
expect_out "^ *$stale_id +q_run +stale +running +0\.0% +$iso +1 +host:42:stale +- +1m3[0-9]s$"
expect_out "^ *$alive_id +q_run +alive +running +0\.0% +$iso +1 +host:42:alive +- +[0-9]s$"

run jobs rescue --older-than 600
expect_rc 0
expect_out '^no stale jobs$'
expect_quiet_stderr
run jobs rescue --older-than=60
expect_rc 0
expect_quiet_stderr
expect_out '^id +type +target +status +retries$'
expect_out "^ *$stale_id +q_run +stale +pending +1/2$"
expect_out "^ *$spent_id +q_run +spent +failed +2/2$"
checks=$((checks + 1))
[ "$(data_rows)" -eq 2 ] || fail "expected 2 rescued jobs"
checks=$((checks + 1))
# The stale job is runnable now and owned by nobody; the live one untouched.
[ "$(sql "SELECT string_agg(target_id || ':' || status || ':' || retry_count,
                 ',' ORDER BY id) FROM processing_jobs WHERE job_type = 'q_run'
          AND (target_id = 'spent' OR (locked_by IS NULL) = (target_id = 'stale'))
          AND (status <> 'pending' OR run_at <= now())")" = \
  "stale:pending:1,spent:failed:2,alive:running:0" ] ||
  fail "rescue left the wrong state: $(sql "SELECT target_id, status, locked_by
        FROM processing_jobs WHERE job_type = 'q_run' ORDER BY id")"
run jobs rescue --older-than 60
expect_rc 0
expect_out '^no stale jobs$'
run jobs list --type q_run --status pending
expect_out "^ *$stale_id +q_run +stale +pending +0\.0% +$iso +1 +- +$iso +-$"
# A job that ended failed in a rescue can be retried by hand.
run jobs retry "$spent_id" --force
expect_rc 0
expect_out "^job $spent_id is pending again \(retry 3 of 2, forced\)$"
checks=$((checks + 1))
[ "$(sql "SELECT status, locked_by IS NULL FROM processing_jobs
          WHERE id = $spent_id")" = "pending|t" ] ||
  fail "retry did not clear locked_by of job $spent_id"
# Purge: five finished jobs two days old (three kinds), one finished a minute
# ago, one pending job two days old; batches of 2 must still purge all five.
for t in c1 c2 f1 x1 c3 recent waiting; do
  run jobs enqueue q_purge "$t"
  expect_rc 0
done
sql "UPDATE processing_jobs SET status = CASE left(target_id, 1) WHEN 'c'
       THEN 'completed' WHEN 'f' THEN 'failed' ELSE 'cancelled' END,
       completed_at = now() - interval '2 days'
     WHERE job_type = 'q_purge' AND target_id NOT IN ('recent', 'waiting')"
sql "UPDATE processing_jobs SET status = 'completed', completed_at = now() -
       interval '1 min' WHERE job_type = 'q_purge' AND target_id = 'recent'"
sql "UPDATE processing_jobs SET created_at = now() - interval '2 days'
     WHERE job_type = 'q_purge' AND target_id = 'waiting'"
run jobs purge --older-than 86400 --batch 2
expect_rc 0
expect_quiet_stderr
expect_out '^deleted 5 finished jobs$'
checks=$((checks + 1))
[ "$(sql "SELECT string_agg(target_id, ',' ORDER BY id) FROM processing_jobs
          WHERE job_type = 'q_purge'")" = "recent,waiting" ] ||
  fail "purge left the wrong jobs"
run jobs purge --older-than 86400
expect_rc 0
expect_out '^deleted 0 finished jobs$'
run jobs purge --older-than=30
expect_rc 0
expect_out '^deleted 1 finished job$'

sql "DELETE FROM processing_jobs WHERE job_type LIKE 'q\_%'"

# --- match -------------------------------------------------------------------

# Two videos: "clipsrc" holds m1..m6 one second apart from 40 s; "other"
# holds the same hashes scattered. The clip is m1..m5 cut at 40 s, plus noise.
sql "INSERT INTO channels (channel_id) VALUES ('UC_match');
     INSERT INTO videos (video_id, channel_id, title)
       SELECT v, (SELECT id FROM channels WHERE channel_id = 'UC_match'), t
         FROM (VALUES ('clipsrc', 'The \"source\"'), ('other', NULL)) AS x (v, t);
     INSERT INTO audio_fingerprints (video_id, start_time, end_time,
                                     fingerprint_hash, fingerprint_data)
       SELECT (SELECT id FROM videos WHERE video_id = 'clipsrc'), 39 + i, 40 + i,
              'm' || i, '\x00'::bytea
         FROM generate_series(1, 6) AS i
       UNION ALL
       SELECT (SELECT id FROM videos WHERE video_id = 'other'), 7 * i, 7 * i + 1,
              'm' || i, '\x00'::bytea
         FROM generate_series(1, 6) AS i" >/dev/null
src_id=$(sql "SELECT id FROM videos WHERE video_id = 'clipsrc'")
other_id=$(sql "SELECT id FROM videos WHERE video_id = 'other'")
cat >"$work/clip.txt" <<'CLIP'
# hash offset
m1 0
m2 1.0

m3 2
m4 3
m5 4
noise7 2.5
CLIP
run match "$work/clip.txt"
expect_rc 0
expect_quiet_stderr
expect_out '^rank +id +video_id +title +matched +in_video +offset +score$'
expect_out "^ +1 +$src_id +clipsrc +The \"source\" +5 +5 +40\.00 +0\.833$"
expect_out "^ +2 +$other_id +other +- +1 +5 "
checks=$((checks + 1))
[ "$(data_rows)" -eq 2 ] || fail "expected 2 candidates"
run match - --limit 1 <"$work/clip.txt"
expect_rc 0
checks=$((checks + 1))
[ "$(data_rows)" -eq 1 ] || fail "--limit 1 printed more than one candidate"
run match --json <"$work/clip.txt"
expect_rc 0
expect_out "^\[\{\"rank\":1,\"id\":$src_id,\"video_id\":\"clipsrc\",\"title\":\"The \\\\\"source\\\\\"\",\"matched_hashes\":5,\"hashes_in_video\":5,\"offset\":40,\"score\":0\.8333"
expect_out "\"video_id\":\"other\",\"title\":null,"
if command -v python3 >/dev/null; then
  checks=$((checks + 1))
  python3 -c 'import json,sys; assert len(json.load(sys.stdin)) == 2' <"$out" ||
    fail "--json is not a JSON array of 2 candidates"
fi
printf 'zz 0\n' >"$work/none.txt"
run match "$work/none.txt"
expect_rc 0
expect_out '^no match$'
run match --json "$work/none.txt"
expect_rc 0
expect_out '^\[\]$'
# Bad input: exit 2 with the line, or the library's check.
printf 'm1 0\nm2\n' >"$work/bad.txt"
expect_usage_error match "$work/bad.txt"
expect_err "bad.txt:2: expected 'HASH OFFSET'"
printf 'm1 -1\n' >"$work/bad.txt"
expect_usage_error match "$work/bad.txt"
expect_err "bad.txt:1: '-1' is not a number of seconds >= 0"
printf 'm1 1 2\n' >"$work/bad.txt"
expect_usage_error match "$work/bad.txt"
printf '%065d 1\n' 0 >"$work/bad.txt"
expect_usage_error match "$work/bad.txt"
expect_err "at most 64"
printf '# nothing\n\n' >"$work/bad.txt"
expect_usage_error match "$work/bad.txt"
expect_err "no 'HASH OFFSET' lines"
expect_usage_error match "$work/clip.txt" --limit 0
expect_usage_error match "$work/clip.txt" --bin 0
expect_err "--bin: '0' is not a number of seconds > 0"
expect_usage_error match "$work/clip.txt" extra
run match "$work/missing.txt"
expect_rc 1
expect_one_error_line
expect_err "cannot open"

# --- status ------------------------------------------------------------------

run status
expect_rc 0
expect_quiet_stderr
expect_out "^  version +$version \(up to date\)$"
expect_out "^  database +$(sql "SELECT current_database()")$"
expect_out "^  user +$(sql "SELECT current_user")$"
expect_out '^  port +[0-9]+$'
expect_out '^  host +.'
expect_out '^  version +[0-9]+'
expect_out '^  pool_size +[0-9]+$'
expect_out '^  acquire_timeout +[0-9]+ ms$'
expect_out '^  pending +3$'  # vid1, vid2, weird
expect_out '^  running +1$'
expect_out '^  failed +0$'
expect_out '^  total +4$'
expect_out '^  oldest runnable +[0-9]+s$'

# --- passwords are never printed ----------------------------------------------
# The test server trusts everyone, so a wrong password still connects.

DATABASE_URL="$good_url password=hunter2" run status
expect_rc 0
expect_absent hunter2
expect_out '^  conninfo +.*password=\*\*\*'
DATABASE_URL="$good_url password=hunter2" run doctor
expect_rc 0
expect_absent hunter2
# The same as a URI.
uri=$(python3 - "$good_url" <<'PY'
import shlex, sys, urllib.parse
url = sys.argv[1]
if "://" in url:
    u = urllib.parse.urlsplit(url)
    host = u.netloc.rsplit("@", 1)[-1]
    user = urllib.parse.unquote(u.username or "postgres")
    print(urllib.parse.urlunsplit(
        (u.scheme, f"{urllib.parse.quote(user)}:hunter2@{host}", u.path,
         u.query, u.fragment)))
else:
    kv = dict(p.split("=", 1) for p in shlex.split(url))
    user = kv.pop("user", "postgres")
    db = kv.pop("dbname", "")
    query = urllib.parse.urlencode(kv, safe="/")
    print(f"postgresql://{urllib.parse.quote(user)}:hunter2@/"
          f"{urllib.parse.quote(db)}?{query}")
PY
)
run --database "$uri" status
expect_rc 0
expect_absent hunter2
expect_out '^  conninfo +postgres(ql)?://[^ ]*:\*\*\*@'
run --database "$down_url password=hunter2" status
expect_rc 3
expect_absent hunter2

# --- cannot connect: exit 3, promptly ---------------------------------------

for args in "status" "migrate" "doctor" "jobs list" "jobs enqueue t x" \
  "jobs retry 1" "jobs rescue --older-than 60"; do
  start=$SECONDS
  # shellcheck disable=SC2086 # word splitting wanted
  DATABASE_URL=$down_url run $args
  expect_rc 3
  expect_one_error_line
  expect_err "cannot connect"
  checks=$((checks + 1))
  [ $((SECONDS - start)) -le 5 ] || fail "took $((SECONDS - start)) s to give up"
done
DATABASE_URL=$down_url run --connect-timeout 2 status
expect_rc 3
# --database wins over DATABASE_URL, before or after the command.
DATABASE_URL=$down_url run --database "$good_url" status
expect_rc 0
DATABASE_URL=$down_url run jobs list --database "$good_url" --limit 1
expect_rc 0
expect_out '^id +type'
run --connect-timeout 5 status
expect_rc 0

# --- doctor ------------------------------------------------------------------

run doctor
expect_rc 0
expect_quiet_stderr
expect_out '^connect +ok in [0-9]+\.[0-9] ms$'
expect_out '^round trip +min [0-9]+ µs, median [0-9]+ µs, max [0-9]+ µs \(20 x SELECT 1\)$'
expect_out '^ssl +'
for s in server_version max_connections lock_timeout statement_timeout \
  idle_in_transaction_session_timeout deadlock_timeout \
  default_transaction_isolation; do
  expect_out "^  $s +[^ ]"
done
if [ "$(sql "SHOW lock_timeout")" = 0 ]; then
  expect_out "lock_timeout is 0"
fi
# With sane timeouts the matching warnings go away.
PGOPTIONS="-c lock_timeout=5s -c statement_timeout=1min" run doctor
expect_rc 0
expect_out '^  lock_timeout +5s$'
checks=$((checks + 1))
! grep -Eq 'lock_timeout is 0|statement_timeout is 0' "$out" ||
  fail "warned about a timeout that is set"

# Duplicate active jobs (a creator without the lock row raced) and the
# optional unique index that rules them out.
run doctor
expect_out '^active jobs +one per \(type, target\) for creators that take the lock row only \(no unique index\)$'
sql "INSERT INTO processing_jobs (job_type, target_id) VALUES ('dup', 'x'), ('dup', 'x')" >/dev/null
run doctor
expect_rc 0
expect_out '^  - 1 \(job type, target\) keys have more than one pending or running job'
sql "DELETE FROM processing_jobs WHERE job_type = 'dup'" >/dev/null
sql "CREATE UNIQUE INDEX processing_jobs_one_active_idx ON processing_jobs (job_type, target_id) WHERE status IN ('pending', 'running')" >/dev/null
run doctor
expect_out '^active jobs +one per \(type, target\), enforced by processing_jobs_one_active_idx$'
checks=$((checks + 1))
! grep -q 'more than one pending' "$out" || fail "warned about duplicates that are gone"
sql "DROP INDEX processing_jobs_one_active_idx" >/dev/null

# --- schedules (periodic jobs) ---------------------------------------------

for c in "schedules list" "schedules set" "schedules delete"; do
  # shellcheck disable=SC2086 # two words on purpose
  run $c --help
  expect_rc 0
  expect_out "^usage: soundhash-db $c"
done
run --help
expect_out "^  schedules set "
run schedules list
expect_rc 0
expect_out '^no schedules$'
expect_usage_error schedules set nightly "61 2 * * *" crawl all
expect_err 'minute field'
expect_usage_error schedules set nightly "0 0 31 2 *" crawl all
expect_err 'never fires'
expect_usage_error schedules set nightly "@every 0s" crawl all
expect_usage_error schedules set nightly "30 2 * * *" crawl
expect_usage_error schedules set nightly "30 2 * * *" crawl all --priority x
expect_usage_error schedules delete
checks=$((checks + 1))
[ "$(sql "SELECT count(*) FROM job_schedules")" = 0 ] || fail "a refused set stored something"
run schedules set nightly " 30  2 * * * " crawl all-channels --params '{"depth":1}' --priority 4
expect_rc 0
expect_out '^schedule nightly set: "30 2 \* \* \*", next run [0-9-]+T02:30:00Z$'
expect_usage_error schedules set often "@every 30s" tick t1 --timeout 0
run schedules set often "@every 30s" tick t1 --delay 5 --max-retries 0 --timeout 90
expect_rc 0
run schedules list
expect_rc 0
expect_out '^name +schedule +type +target +next run \(UTC\) +last enqueued \(UTC\) +timeout$'
expect_out '^nightly +30 2 \* \* \* +crawl +all-channels +[0-9-]+T02:30:00Z +- +-$'
expect_out '^often +@every 30s +tick +t1 .* +1m30s$'
checks=$((checks + 1))
[ "$(sql "SELECT priority || ' ' || parameters FROM job_schedules WHERE name = 'nightly'")" = '4 {"depth":1}' ] || fail "set stored the wrong job"
checks=$((checks + 1))
[ "$(sql "SELECT delay_ms || ' ' || max_retries || ' ' || timeout_ms FROM job_schedules WHERE name = 'often'")" = '5000 0 90000' ] || fail "set stored the wrong options"
run schedules delete often
expect_rc 0
expect_out '^deleted schedule often$'
run schedules delete often
expect_rc 1
expect_one_error_line
expect_err 'no schedule often'
run schedules delete nightly
expect_rc 0

# --- limits (concurrency limits per job type) --------------------------------

for c in "limits list" "limits set" "limits clear"; do
  # shellcheck disable=SC2086 # two words on purpose
  run $c --help
  expect_rc 0
  expect_out "^usage: soundhash-db $c"
done
run limits list
expect_rc 0
expect_out '^no limits$'
expect_usage_error limits set video_process -1
expect_usage_error limits set video_process many
expect_usage_error limits set video_process
expect_usage_error limits set vidoe_process 2
expect_err 'unknown job type "vidoe_process"'
checks=$((checks + 1))
[ "$(sql "SELECT count(*) FROM job_type_limits")" = 0 ] || fail "a refused limit was stored"
run limits set video_process 2
expect_rc 0
expect_out '^video_process limited to 2 running$'
run limits set brand_new 0 --new-type
expect_rc 0
run limits list
expect_rc 0
expect_out '^type +max running +running$'
expect_out '^brand_new +0 +0$'
expect_out '^video_process +2 +[0-9]+$'
run limits clear brand_new
expect_rc 0
expect_out '^brand_new unlimited$'
run limits clear brand_new
expect_rc 1
expect_one_error_line
expect_err 'brand_new has no limit'
run limits clear video_process
expect_rc 0
# Per key: at most N running jobs of a type with one concurrency key.
expect_usage_error limits set video_process --per-key 0
expect_usage_error limits set video_process 2 --per-key 1
expect_usage_error limits set vidoe_process --per-key 2
expect_err 'unknown job type "vidoe_process"'
run limits set video_process --per-key 2
expect_rc 0
expect_out '^video_process limited to 2 running per key$'
sql "INSERT INTO processing_jobs (job_type, target_id, status, started_at,
       concurrency_key) VALUES ('video_process', 'k1', 'running', now(), 'ch1'),
       ('video_process', 'k2', 'running', now(), 'ch1'),
       ('video_process', 'k3', 'running', now(), 'ch2')" >/dev/null
run limits list
expect_rc 0
expect_out '^type +max running per key +running with a key +busiest key$'
expect_out '^video_process +2 +3 +2$'
run limits clear video_process --per-key
expect_rc 0
expect_out '^video_process unlimited per key$'
run limits clear video_process --per-key
expect_rc 1
expect_err 'video_process has no per-key limit'
sql "DELETE FROM processing_jobs WHERE target_id IN ('k1', 'k2', 'k3')" >/dev/null
run limits list
expect_out '^no limits$'

# --- cancel, show, bulk retry (issue 19) -------------------------------------

for c in "jobs cancel" "jobs show"; do
  run --help
  expect_out "^  $c "
  # shellcheck disable=SC2086 # "jobs cancel" is two words on purpose
  run $c --help
  expect_rc 0
  expect_out "^usage: soundhash-db $c ID"
done
expect_usage_error jobs cancel
expect_err "missing ID"
expect_usage_error jobs cancel abc
expect_usage_error jobs cancel 1 2
expect_usage_error jobs show
expect_err "missing ID"
expect_usage_error jobs show 0
expect_usage_error jobs retry --type b_type --status pending
expect_err "cannot be retried"
expect_usage_error jobs retry 5 --type b_type
expect_err "give it or ID, not both"
expect_usage_error jobs retry --type b_type --since 0
expect_usage_error jobs retry --type b_type --batch 0
expect_usage_error jobs retry --status failed
expect_err "missing ID"

pid=$(sql "INSERT INTO processing_jobs (job_type, target_id) VALUES ('c_type', 'c1') RETURNING id")
run jobs cancel "$pid"
expect_rc 0
expect_quiet_stderr
expect_out "^job $pid is cancelled$"
checks=$((checks + 1))
[ "$(sql "SELECT status, completed_at IS NOT NULL FROM processing_jobs WHERE id = $pid")" = "cancelled|t" ] ||
  fail "pending job $pid not cancelled"
run jobs cancel "$pid"
expect_rc 1
expect_one_error_line
expect_err "^soundhash-db: jobs cancel: job $pid has already finished \(status cancelled\)$"
run jobs cancel 999999
expect_rc 1
expect_one_error_line
expect_err "^soundhash-db: jobs cancel: job 999999 does not exist$"
rid=$(sql "INSERT INTO processing_jobs (job_type, target_id, status, locked_by, started_at, heartbeat_at)
           VALUES ('c_type', 'c2', 'running', 'host:9:0', now(), now()) RETURNING id")
run jobs cancel "$rid"
expect_rc 0
expect_out "^job $rid is cancelled; it was running under worker host:9:0, which learns of it at its next heartbeat$"
checks=$((checks + 1))
[ "$(sql "SELECT status, locked_by FROM processing_jobs WHERE id = $rid")" = "cancelled|host:9:0" ] ||
  fail "running job $rid not cancelled"

sid=$(sql "INSERT INTO processing_jobs (job_type, target_id, status, error_message, attempts, retry_count, max_retries, errors)
           VALUES ('c_type', 'c3', 'failed', 'boom two', 2, 1, 1,
                   '[{\"message\": \"boom one\", \"attempt\": 1, \"worker\": \"w1\", \"at\": \"2026-01-02T03:04:05Z\"},
                     {\"message\": \"boom two\", \"attempt\": 2, \"worker\": \"w2\", \"at\": \"2026-01-02T03:05:06Z\"}]')
           RETURNING id")
run jobs show "$sid"
expect_rc 0
expect_quiet_stderr
expect_out "^id +$sid$"
expect_out "^status +failed$"
expect_out "^retries +1 of 1$"
expect_out "^error_message +boom two$"
expect_out "^failed attempts \(oldest first, the last 20 kept\):$"
expect_out "^ +1 +2026-01-02T03:04:05Z +w1 +boom one$"
expect_out "^ +2 +2026-01-02T03:05:06Z +w2 +boom two$"
run jobs show "$pid"
expect_rc 0
expect_out "^status +cancelled$"
expect_out "^no failed attempts recorded$"
# A timeout and a concurrency key given at enqueue are stored and shown.
run jobs enqueue k_type k1 --timeout 90 --key chan7
expect_rc 0
kid=$(sed -n 's/^created job \([0-9]*\)$/\1/p' "$out")
checks=$((checks + 1))
[ "$(sql "SELECT timeout_ms, concurrency_key FROM processing_jobs WHERE id = $kid")" = "90000|chan7" ] ||
  fail "job $kid lacks its timeout or key"
run jobs show "$kid"
expect_rc 0
expect_out "^timeout +90 s$"
expect_out "^key +chan7$"
run jobs show "$sid"
expect_out "^timeout +-$"
expect_out "^key +-$"
expect_usage_error jobs enqueue k_type k2 --timeout 0
expect_err "--timeout"
expect_usage_error jobs enqueue k_type k2 --key ''
expect_err "--key: 1 to 255 bytes"
expect_usage_error jobs enqueue k_type k2 --key "$(printf 'k%.0s' {1..256})"
expect_err "--key: 1 to 255 bytes"
checks=$((checks + 1))
[ "$(sql "SELECT count(*) FROM processing_jobs WHERE target_id = 'k2'")" = 0 ] ||
  fail "a job with a bad --timeout or --key was created"
run jobs show 999999
expect_rc 1
expect_one_error_line
expect_err "^soundhash-db: jobs show: job 999999 does not exist$"

# Bulk retry, with the optional unique index over active jobs in place: x1
# has two failed jobs (only the newer is retried), x2 already has a pending
# job, x3 has used its retries, x4 finished two hours ago.
sql "INSERT INTO processing_jobs (job_type, target_id, status, completed_at, retry_count, max_retries, errors)
     VALUES ('b_type', 'x1', 'failed', now(), 0, 3, '[{\"message\": \"m\", \"attempt\": 1, \"worker\": null, \"at\": \"2026-01-01T00:00:00Z\"}]'),
            ('b_type', 'x1', 'failed', now(), 0, 3, '[]'),
            ('b_type', 'x2', 'failed', now(), 0, 3, '[]'),
            ('b_type', 'x2', 'pending', NULL, 0, 3, '[]'),
            ('b_type', 'x3', 'failed', now(), 3, 3, '[]'),
            ('b_type', 'x4', 'failed', now() - interval '2 hours', 0, 3, '[]'),
            ('b_type', 'x5', 'failed', now(), 0, 3, '[]'),
            ('b_other', 'x6', 'failed', now(), 0, 3, '[]')" >/dev/null
sql "CREATE UNIQUE INDEX processing_jobs_one_active_idx ON processing_jobs (job_type, target_id) WHERE status IN ('pending', 'running')" >/dev/null
run jobs retry --type b_type --since 3600 --batch 2
expect_rc 0
expect_quiet_stderr
expect_out "^retried 2 of 5 failed jobs of type b_type \(3 batches\)$"
expect_out "^skipped 1: retries used up \(--force retries them anyway\)$"
expect_out "^skipped 2: another job of the same type and target is pending or running$"
checks=$((checks + 1))
[ "$(sql "SELECT string_agg(target_id || ':' || status, ',' ORDER BY id) FROM processing_jobs WHERE job_type = 'b_type'")" = \
  "x1:failed,x1:pending,x2:failed,x2:pending,x3:failed,x4:failed,x5:pending" ] ||
  fail "bulk retry changed the wrong jobs"
run jobs retry --type b_type --force
expect_rc 0
expect_out "^retried 2 of 4 failed jobs of type b_type \(1 batch\)$"
expect_out "^skipped 2: another job"
checks=$((checks + 1))
[ "$(sql "SELECT string_agg(target_id || ':' || status || ':' || jsonb_array_length(errors), ',' ORDER BY id) FROM processing_jobs WHERE job_type IN ('b_type', 'b_other')")" = \
  "x1:failed:1,x1:pending:0,x2:failed:0,x2:pending:0,x3:pending:0,x4:pending:0,x5:pending:0,x6:failed:0" ] ||
  fail "bulk retry --force changed the wrong jobs (or lost a history)"
run jobs retry --type nothing_here
expect_rc 0
expect_out "^retried 0 of 0 failed jobs of type nothing_here \(0 batches\)$"
# One job whose key is active: the index refuses it, and the message names
# the job that holds the key instead of the server's 23505 text.
x1_failed=$(sql "SELECT id FROM processing_jobs WHERE target_id = 'x1' AND status = 'failed'")
x1_active=$(sql "SELECT id FROM processing_jobs WHERE target_id = 'x1' AND status = 'pending'")
run jobs retry "$x1_failed"
expect_rc 1
expect_one_error_line
expect_err "job $x1_failed cannot be retried: job $x1_active \(b_type for x1\) is already pending, and the unique index processing_jobs_one_active_idx allows one pending or running job per type and target"
expect_absent "23505"
expect_absent "duplicate key"
checks=$((checks + 1))
[ "$(sql "SELECT status FROM processing_jobs WHERE id = $x1_failed")" = failed ] ||
  fail "a refused retry changed job $x1_failed"
sql "DROP INDEX processing_jobs_one_active_idx" >/dev/null

# --- verdict -----------------------------------------------------------------

if [ "$failures" -gt 0 ]; then
  echo "cli_test: $failures of $checks checks failed" >&2
  exit 1
fi
echo "cli_test: all $checks checks passed"
