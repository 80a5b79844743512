#!/usr/bin/env bash
# `soundhash-db status` and `doctor` with standbys configured
# (SOUNDHASH_DB_REPLICA_URL): each standby's role, lag and reachability, and
# doctor's warnings when none is a standby or one lags past the bound.
#
#   replica_status_test.sh PATH/TO/soundhash-db STANDBY_CONNINFO_FILE
#   (DATABASE_URL: a fresh database on the standby's primary)
set -euo pipefail
cli=${1:?usage: replica_status_test.sh PATH/TO/soundhash-db STANDBY_CONNINFO_FILE}
standby_file=${2:?usage: replica_status_test.sh CLI STANDBY_CONNINFO_FILE}
: "${DATABASE_URL:?DATABASE_URL must name a fresh database}"
standby=$(cat "$standby_file" 2>/dev/null || true)
if [ -z "$standby" ]; then
  echo "replica_status_test: no standby (external server): skipped"
  exit 77
fi
standby="$standby dbname=postgres"
work=$(mktemp -d)
resume() { psql -X -q -At -d "$standby" -c "SELECT pg_wal_replay_resume()" >/dev/null 2>&1 || true; }
trap 'resume; rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
json() { python3 -c "import json,sys; j=json.load(open('$work/out')); print($1)"; }

export SOUNDHASH_DB_REPLICA_URL=$standby
"$cli" status --json > "$work/out" || fail "status --json: exit $?"
[ "$(json 'j["server"]["role"]')" = primary ] || fail "server.role: $(cat "$work/out")"
[ "$(json 'len(j["replicas"])')" = 1 ] || fail "replicas: $(cat "$work/out")"
[ "$(json 'j["replicas"][0]["role"]')" = standby ] || fail "replica role: $(cat "$work/out")"
[ "$(json 'j["replicas"][0]["reachable"]')" = True ] || fail "reachable: $(cat "$work/out")"
[ "$(json 'j["replicas"][0]["lag_ms"] >= 0')" = True ] || fail "lag_ms: $(cat "$work/out")"
"$cli" status > "$work/out" || fail "status: exit $?"
grep -Eq 'standby, lag [0-9]+ ms, replayed [0-9A-F]+/[0-9A-F]+' "$work/out" ||
  fail "status text: $(cat "$work/out")"
"$cli" doctor > "$work/out" || fail "doctor: exit $?"
grep -q 'replica .* standby, lag' "$work/out" || fail "doctor replica line: $(cat "$work/out")"
grep -q 'none is a' "$work/out" && fail "doctor warned wrongly: $(cat "$work/out")"

# A "replica" that is the primary, and one nobody serves.
SOUNDHASH_DB_REPLICA_URL="$DATABASE_URL" "$cli" doctor > "$work/out" || fail "doctor (primary): exit $?"
grep -q 'none is a reachable standby' "$work/out" || fail "doctor (primary): $(cat "$work/out")"
grep -q 'is not a standby' "$work/out" || fail "doctor (primary) line: $(cat "$work/out")"
SOUNDHASH_DB_REPLICA_URL="host=127.0.0.1 port=1" "$cli" status --json > "$work/out" ||
  fail "status (unreachable): exit $?"
[ "$(json 'j["replicas"][0]["reachable"]')" = False ] || fail "unreachable: $(cat "$work/out")"
[ "$(json 'j["replicas"][0]["server"]')" = 127.0.0.1:1 ] || fail "server: $(cat "$work/out")"
SOUNDHASH_DB_REPLICA_URL="host=127.0.0.1 port=1" "$cli" doctor > "$work/out" ||
  fail "doctor (unreachable): exit $?"
grep -q 'replica 127.0.0.1:1 is unreachable' "$work/out" || fail "doctor (unreachable): $(cat "$work/out")"

# Paused replay while the primary writes: the lag passes the bound.
psql -X -q -At -d "$standby" -c "SELECT pg_wal_replay_pause()" >/dev/null
psql -X -q -At -d "$DATABASE_URL" -c "CREATE TABLE t (x int); INSERT INTO t VALUES (1)"
sleep 1.5
SOUNDHASH_DB_REPLICA_MAX_LAG_MS=500 "$cli" doctor > "$work/out" || fail "doctor (lag): exit $?"
grep -Eq 'lags [0-9]+ ms, over replica_max_lag 500 ms' "$work/out" || fail "doctor (lag): $(cat "$work/out")"
resume

[ "$failures" = 0 ] && echo "replica_status_test: all passed"
exit "$failures"
