#!/usr/bin/env bash
# `soundhash-db status --json` and `status --watch` against a real server:
# the JSON parses and says what the database holds, the watch shows rates
# per job type, and misuse is a usage error (exit 2).
#
#   status_test.sh PATH/TO/soundhash-db     (DATABASE_URL: a fresh database)
set -euo pipefail
cli=${1:?usage: status_test.sh PATH/TO/soundhash-db}
: "${DATABASE_URL:?DATABASE_URL must name a fresh database}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -c "$1"; }
# json EXPR: evaluates the Python expression EXPR on the parsed JSON (`j`).
json() { python3 -c "import json,sys; j=json.load(open('$work/out')); print($1)"; }

"$cli" status --json > "$work/out" || fail "status --json before migrate: exit $?"
[ "$(json 'j["jobs"]')" = None ] || fail "jobs before migrate: $(cat "$work/out")"
[ "$(json 'j["schema"]["version"]')" = 0 ] || fail "schema version before migrate"

"$cli" migrate > /dev/null
"$cli" jobs enqueue fp t1 > /dev/null
"$cli" jobs enqueue fp t2 > /dev/null
"$cli" jobs enqueue dl t3 > /dev/null
sql "UPDATE processing_jobs SET status = 'completed', completed_at = now()
      WHERE target_id = 't2'"

"$cli" status --json > "$work/out" || fail "status --json: exit $?"
[ "$(json 'j["jobs"]["pending"]')" = 2 ] || fail "pending: $(cat "$work/out")"
[ "$(json 'j["jobs"]["completed"]')" = 1 ] || fail "completed: $(cat "$work/out")"
[ "$(json 'j["jobs"]["total"]')" = 3 ] || fail "total: $(cat "$work/out")"
[ "$(json 'j["schema"]["version"] == j["schema"]["latest"]')" = True ] ||
  fail "schema: $(cat "$work/out")"
[ "$(json 'j["oldest_runnable_seconds"] >= 0')" = True ] ||
  fail "oldest_runnable_seconds: $(cat "$work/out")"
[ "$(json 'j["server"]["database"]')" = "$(sql 'SELECT current_database()')" ] ||
  fail "server.database: $(cat "$work/out")"

# One refresh, rates over 60 s: one fp job completed = 0.02/s.
"$cli" status --watch 60 --count 1 > "$work/out" || fail "status --watch: exit $?"
grep -Eq '^fp +1 +0 +0\.02 +0\.00$' "$work/out" || fail "watch fp row: $(cat "$work/out")"
grep -Eq '^dl +1 +0 +0\.00 +0\.00$' "$work/out" || fail "watch dl row: $(cat "$work/out")"
grep -q 'rates over the last 60s' "$work/out" || fail "watch header: $(cat "$work/out")"
# Two refreshes a second apart.
"$cli" status --watch 1 --count 2 > "$work/out" || fail "status --watch 1: exit $?"
[ "$(grep -c 'rates over the last 1s' "$work/out")" = 2 ] || fail "two refreshes: $(cat "$work/out")"

for args in "--count 2" "--json --watch 5" "--watch 0" "--watch soon"; do
  rc=0; "$cli" status $args > /dev/null 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "status $args: exit $rc, expected 2"
done

[ "$failures" = 0 ] && echo "status_test: all passed"
exit "$failures"
