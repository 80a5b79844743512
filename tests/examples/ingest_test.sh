#!/usr/bin/env bash
# The ingest service end to end (DATABASE_URL from with-test-db):
# a run until idle processes every job; a second run creates nothing new;
# SIGTERM stops a busy service cleanly with exit code 0.
set -euo pipefail
bin=${1:?usage: ingest_test.sh INGEST_SERVICE}
q() { psql -X -qAt -d "$DATABASE_URL" -c "$1"; }

out=$("$bin" --channels 2 --videos 5 --workers 3 --until-idle)
echo "$out"
grep -q "processed 10 jobs" <<<"$out"
[ "$(q "SELECT count(*) FROM processing_jobs WHERE status = 'completed'")" = 10 ]
[ "$(q "SELECT count(*) FROM videos WHERE processed")" = 10 ]
[ "$(q "SELECT count(DISTINCT video_id) FROM audio_fingerprints")" = 10 ]

out=$("$bin" --channels 2 --videos 5 --workers 3 --until-idle)
echo "$out"
grep -q "processed 0 jobs" <<<"$out"
[ "$(q "SELECT count(*) FROM processing_jobs")" = 10 ]

# A busy service (no --until-idle) stops on SIGTERM.
"$bin" --channels 3 --videos 40 --workers 2 > "${TMPDIR:-/tmp}/ingest.$$" 2>&1 &
pid=$!
sleep 2
kill -TERM "$pid"
wait "$pid"  # set -e: a non-zero exit fails the test
cat "${TMPDIR:-/tmp}/ingest.$$"
grep -q "stopped by signal" "${TMPDIR:-/tmp}/ingest.$$"
rm -f "${TMPDIR:-/tmp}/ingest.$$"
# Nothing half-done: every completed job's video has its fingerprints.
[ "$(q "SELECT count(*) FROM processing_jobs j JOIN videos v ON v.video_id = j.target_id
        WHERE j.status = 'completed' AND NOT EXISTS
        (SELECT 1 FROM audio_fingerprints f WHERE f.video_id = v.id)")" = 0 ]
[ "$(q "SELECT count(*) FROM processing_jobs WHERE status = 'failed'")" = 0 ]
echo "ingest_test: ok"
